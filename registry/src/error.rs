//! Refusals in Confluent's error format: an HTTP status and a body
//! `{"error_code": N, "message": "..."}` whose code's first three digits
//! are the status, so clients written against Confluent's registry read them.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// The media type of every answer (Confluent's).
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Why a registry request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 40101: no credentials, or wrong ones.
    #[error("Unauthorized: {0}")]
    Unauthorized(String),
    /// 40301: credentials that may not do this.
    #[error("Forbidden: {0}")]
    Forbidden(String),
    /// 40401.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402.
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    /// 40403.
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    /// 40408: no level set for the subject and no fallback asked for.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    NoSubjectLevel(String),
    /// 409: refused under the subject's compatibility level.
    #[error(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{details}]"
    )]
    Incompatible {
        /// The subject.
        subject: String,
        /// What apache-avro's compatibility check found.
        details: String,
    },
    /// 42201.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 42202.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    /// 42203.
    #[error("Invalid compatibility level: {0}")]
    InvalidLevel(String),
    /// 42204: what this registry does not implement.
    #[error("Not supported by this registry: {0}")]
    Unsupported(String),
    /// 50001: the log of schemas could not be written.
    #[error("Error in the backend data store: {0}")]
    Store(String),
    /// 50301: partners' credentials cannot be checked right now.
    #[error("Credentials cannot be checked right now: {0}")]
    Unavailable(String),
}

impl RegistryError {
    /// Confluent's error code.
    pub fn code(&self) -> u32 {
        match self {
            RegistryError::Unauthorized(_) => 40101,
            RegistryError::Forbidden(_) => 40301,
            RegistryError::SubjectNotFound(_) => 40401,
            RegistryError::VersionNotFound(_) => 40402,
            RegistryError::SchemaNotFound(_) => 40403,
            RegistryError::NoSubjectLevel(_) => 40408,
            RegistryError::Incompatible { .. } => 409,
            RegistryError::InvalidSchema(_) => 42201,
            RegistryError::InvalidVersion(_) => 42202,
            RegistryError::InvalidLevel(_) => 42203,
            RegistryError::Unsupported(_) => 42204,
            RegistryError::Store(_) => 50001,
            RegistryError::Unavailable(_) => 50301,
        }
    }

    /// The HTTP status: the code's first three digits.
    pub fn status(&self) -> StatusCode {
        let code = self.code();
        let status = if code >= 1000 { code / 100 } else { code };
        u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.code(), "message": self.to_string()});
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if let RegistryError::Unauthorized(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"rfq schema registry\""),
            );
        }
        response
    }
}
