//! The HTTP side of the registry: one client (basic auth, TLS with extra
//! certificate authorities and a client identity) for both
//! `schema_registry_converter`'s calls and the ones it does not make
//! (a subject's compatibility level).

use crate::CodecError;
use rfq_core::pipeline::SchemaRegistrySettings;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use std::time::Duration;

/// How long one call to the registry may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The compatibility level the pipeline's subjects get when they have none
/// of their own: a new schema must read what the previous one wrote, so
/// consumers upgrade first and partners may then add fields with defaults.
pub const COMPATIBILITY: &str = "BACKWARD";

/// Calls to the registry that `schema_registry_converter` does not make.
pub(crate) struct Admin {
    /// The HTTP client (TLS configured).
    http: reqwest::Client,
    /// The registry's base URL, without a trailing slash.
    url: String,
    /// Basic authentication, if configured.
    auth: Option<(String, Option<String>)>,
}

/// The registry client's settings and the admin client, built from the
/// pipeline's registry settings.
pub(crate) fn clients(
    settings: &SchemaRegistrySettings,
) -> Result<(SrSettings, Admin), CodecError> {
    crate::choose_crypto_provider();
    let url = settings.url().trim_end_matches('/').to_owned();
    let mut builder = SrSettings::new_builder(url.clone());
    if let Some(user) = &settings.registry_user {
        builder.set_basic_authorization(user, settings.registry_password.as_deref());
    }
    builder.set_timeout(TIMEOUT);
    let converter = builder
        .build_with(http_builder(settings)?)
        .map_err(|error| CodecError::Settings(format!("registry client for {url}: {error}")))?;
    let http = http_builder(settings)?
        .timeout(TIMEOUT)
        .build()
        .map_err(|error| CodecError::Settings(format!("HTTP client for {url}: {error}")))?;
    let auth = settings
        .registry_user
        .clone()
        .map(|user| (user, settings.registry_password.clone()));
    Ok((converter, Admin { http, url, auth }))
}

/// A client builder with the configured TLS trust and identity.
fn http_builder(settings: &SchemaRegistrySettings) -> Result<reqwest::ClientBuilder, CodecError> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|error| {
            CodecError::Settings(format!("reading the {what} {}: {error}", path.display()))
        })
    };
    let mut builder = reqwest::Client::builder().tls_backend_rustls();
    if let Some(path) = &settings.registry_ca {
        let pem = read(path, "registry CA file (--schema-registry-ca)")?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            CodecError::Settings(format!("{}: not PEM certificates: {error}", path.display()))
        })?;
        if certificates.is_empty() {
            return Err(CodecError::Settings(format!(
                "{}: no PEM certificate in it (--schema-registry-ca)",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    if let Some(path) = &settings.registry_identity {
        let pem = read(
            path,
            "registry client identity (--schema-registry-identity)",
        )?;
        let identity = reqwest::Identity::from_pem(&pem).map_err(|error| {
            CodecError::Settings(format!(
                "{}: not a PEM certificate and private key: {error}",
                path.display()
            ))
        })?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

impl Admin {
    /// The subject's own compatibility level, `None` if it has none (it
    /// follows the global one).
    pub(crate) async fn subject_level(&self, subject: &str) -> Result<Option<String>, CodecError> {
        let url = format!("{}/config/{}", self.url, encode(subject));
        let response = self.send(self.http.get(&url)).await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match status.as_u16() {
            200 => Ok(body["compatibilityLevel"]
                .as_str()
                .or(body["compatibility"].as_str())
                .map(str::to_owned)),
            // Confluent: 40408 (no level of its own), 40401 (no such
            // subject); other registries answer 404 without a code.
            404 => Ok(None),
            _ => Err(refused(&format!("GET {url}"), status, &body)),
        }
    }

    /// Sets the subject's compatibility level.
    pub(crate) async fn set_subject_level(
        &self,
        subject: &str,
        level: &str,
    ) -> Result<(), CodecError> {
        let url = format!("{}/config/{}", self.url, encode(subject));
        let request = self
            .http
            .put(&url)
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .json(&serde_json::json!({ "compatibility": level }));
        let response = self.send(request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(refused(&format!("PUT {url}"), status, &body))
    }

    /// Sends with the configured authentication; a transport failure or a
    /// 5xx is the registry being unavailable (retried by callers).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CodecError> {
        let request = match &self.auth {
            Some((user, password)) => request.basic_auth(user, password.as_deref()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|error| CodecError::Registry(format!("{}: {error}", self.url)))?;
        if response.status().is_server_error() {
            return Err(CodecError::Registry(format!(
                "{} answered {}",
                self.url,
                response.status()
            )));
        }
        Ok(response)
    }
}

/// A registry's refusal, with its Confluent error code and message if any.
fn refused(call: &str, status: reqwest::StatusCode, body: &serde_json::Value) -> CodecError {
    CodecError::Refused(format!(
        "{call}: {status}, error code {}: {}",
        body["error_code"],
        body["message"].as_str().unwrap_or("(no message)")
    ))
}

/// A subject as one URL path segment.
fn encode(subject: &str) -> String {
    subject.replace('%', "%25").replace('/', "%2F")
}
