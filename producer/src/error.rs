use crate::customers::Limited;
use axum::{http::StatusCode, response::IntoResponse};
use rfq_core::{DomainError, auth::AuthError, problem::Problem};

/// Why an RFQ submission was not accepted. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The body is not declared as JSON.
    #[error("send the RFQ as JSON (Content-Type: application/json), not {0:?}")]
    UnsupportedMediaType(String),
    /// The body is larger than allowed.
    #[error("the body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// The body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but not a valid RFQ.
    #[error("{0}")]
    Invalid(DomainError),
    /// Too many RFQs are open: refused to protect the pipeline.
    #[error("{open} RFQs are open, the limit is {limit}: try again shortly")]
    Overloaded {
        /// Open RFQs (an estimate, refreshed every fraction of a second).
        open: u64,
        /// The configured limit.
        limit: u64,
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// The aggregator of the RFQ's partition is too far behind for the
    /// result to come by its ETA.
    #[error(
        "the aggregator is {lag_ms} ms behind (at most {limit_ms} ms is accepted): try again shortly"
    )]
    Behind {
        /// How far behind.
        lag_ms: i64,
        /// The configured limit.
        limit_ms: u64,
        /// Seconds the client should wait.
        retry_after: u64,
    },
    /// Kafka or the store did not acknowledge: try again shortly.
    #[error("the RFQ could not be recorded right now: {0}")]
    Unavailable(String),
    /// This producer is handling as many submissions as it may at once:
    /// shed now rather than queued.
    #[error("{0} submissions are being handled, the most at once: try again in a second")]
    Busy(usize),
    /// The `Idempotency-Key` header is not a key.
    #[error("{0}")]
    BadIdempotencyKey(String),
    /// The `Idempotency-Key` was first used with another request.
    #[error("this Idempotency-Key was used with a different request: send a new key for a new RFQ")]
    KeyReused,
    /// No valid API key.
    #[error("{0}")]
    Unauthorized(AuthError),
    /// The customer submits faster, or has more RFQs open, than allowed.
    #[error("{}", limited_detail(.0))]
    CustomerLimited(Limited),
    /// The first request with this `Idempotency-Key` is still being handled.
    #[error("a request with this Idempotency-Key is still being handled: try again shortly")]
    KeyInFlight {
        /// Seconds the client should wait.
        retry_after: u64,
    },
}

fn limited_detail(limited: &Limited) -> String {
    match limited {
        Limited::Rate { .. } => {
            "this customer submits RFQs faster than allowed: slow down".to_owned()
        }
        Limited::Open { limit, .. } => {
            format!("this customer has {limit} RFQs open, the most allowed: wait for one to close")
        }
    }
}

impl From<AuthError> for IntakeError {
    fn from(error: AuthError) -> Self {
        IntakeError::Unauthorized(error)
    }
}

impl From<DomainError> for IntakeError {
    fn from(error: DomainError) -> Self {
        IntakeError::Invalid(error)
    }
}

impl IntakeError {
    /// The outcome label of the submissions metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            IntakeError::Unavailable(_) => "unavailable",
            IntakeError::Overloaded { .. } => "overloaded",
            IntakeError::Behind { .. } => "behind",
            IntakeError::Busy(_) => "busy",
            IntakeError::KeyInFlight { .. } => "in-flight",
            IntakeError::Unauthorized(AuthError::Forbidden(_)) => "forbidden",
            IntakeError::Unauthorized(_) => "unauthorized",
            IntakeError::CustomerLimited(_) => "limited",
            _ => "invalid",
        }
    }
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> axum::response::Response {
        let detail = self.to_string();
        let problem = match self {
            IntakeError::Unauthorized(error) => return error.into_response(),
            IntakeError::CustomerLimited(Limited::Rate { retry_after }) => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "Rate Limited", detail)
                    .retry_after(retry_after)
            }
            IntakeError::CustomerLimited(Limited::Open { limit, retry_after }) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Open RFQs For This Customer",
                detail,
            )
            .with("limit", limit)
            .retry_after(retry_after),
            IntakeError::UnsupportedMediaType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                detail,
            ),
            IntakeError::TooLarge(limit) => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large", detail)
                    .with("limit-bytes", limit)
            }
            IntakeError::Malformed(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "Malformed JSON", detail)
            }
            IntakeError::Invalid(error) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid RFQ",
                format!("{}: {}", error.field, error.message),
            )
            .with("field", error.field),
            IntakeError::Overloaded {
                open,
                limit,
                retry_after,
            } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too Many Open RFQs",
                detail,
            )
            .with("open-rfqs", open)
            .with("limit", limit)
            .retry_after(retry_after),
            IntakeError::Behind {
                lag_ms,
                limit_ms,
                retry_after,
            } => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Aggregator Behind", detail)
                .with("lag-ms", lag_ms)
                .with("limit-ms", limit_ms)
                .retry_after(retry_after),
            IntakeError::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                detail,
            )
            .retry_after(1),
            IntakeError::Busy(limit) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Intake Busy", detail)
                    .with("limit", limit)
                    .retry_after(1)
            }
            IntakeError::BadIdempotencyKey(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "Malformed Idempotency-Key", detail)
            }
            IntakeError::KeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key Reused",
                detail,
            ),
            IntakeError::KeyInFlight { retry_after } => {
                Problem::new(StatusCode::CONFLICT, "Request In Progress", detail)
                    .retry_after(retry_after)
            }
        };
        problem.into_response()
    }
}
