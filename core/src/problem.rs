//! RFC 9457 problem documents: every HTTP error of the pipeline is an
//! `application/problem+json` body with a status, a title and a detail a
//! client developer can act on.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem (we use `about:blank` plus
    /// a stable slug in `title`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, stable summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What exactly was wrong with this request.
    pub detail: String,
    /// Extra members (e.g. `field`, `eta`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Sent as `Retry-After` (seconds) when set.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status`, a stable `title` and a specific `detail`.
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://rfq.example/problems/{}", slug(title)),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extra: serde_json::Map::new(),
            retry_after: None,
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Asks the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

fn slug(title: &str) -> String {
    title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A 404 for any path no route matches.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such resource")
}
