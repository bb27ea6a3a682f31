//! What every response passes on its way out, whoever made it: our
//! handlers or axum itself.
//!
//! - **Errors are problem documents.** axum answers some requests on its
//!   own (a path or query it cannot extract, a JSON rejection, a body over
//!   the limit) with `text/plain`; such an error response becomes an
//!   `application/problem+json` document with the same status and headers,
//!   its text as the detail.
//! - **A closing connection says so.** A request whose body the handler did
//!   not read to its end (refused before reading, or over the limit) leaves
//!   bytes on the connection that hyper will not parse as the next request:
//!   it closes the connection after the response. The response then says
//!   `connection: close`, which also makes hyper close it, so a client
//!   never reuses a connection that is about to go.

use crate::problem::Problem;
use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

/// Largest text body of an error turned into a problem's detail.
const DETAIL_MAX_BYTES: usize = 4096;

/// The middleware: see the module's documentation.
pub(crate) async fn edge(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let had_body = !body.is_end_stream();
    let read = Arc::new(AtomicBool::new(!had_body));
    let body = Body::new(Tracked {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if is_unexplained_error(&response) {
        response = as_problem(response).await;
    }
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// An error response that is not a problem document yet.
fn is_unexplained_error(response: &Response) -> bool {
    let status = response.status();
    // Only bodies without a type of their own: axum's plain text. A JSON
    // error a handler chose (a problem document, or the schema registry's
    // Confluent errors, which its clients parse) is left as it is.
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("text/plain"));
    (status.is_client_error() || status.is_server_error()) && plain
}

/// `response` as a problem document: same status and headers, its text
/// as the detail.
async fn as_problem(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, DETAIL_MAX_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let title = parts.status.canonical_reason().unwrap_or("Error");
    let detail = if text.is_empty() {
        title.to_ascii_lowercase()
    } else {
        text
    };
    let problem = Problem::new(parts.status, title, detail).into_response();
    let (problem_parts, body) = problem.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem_parts.headers);
    Response::from_parts(parts, body)
}

/// A request body that notes when it has been read to its end.
struct Tracked {
    /// The body.
    inner: Body,
    /// Set once the body ended.
    read: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::PROBLEM_JSON;
    use axum::{
        Router,
        http::StatusCode,
        routing::{get, post},
    };
    use tower::ServiceExt as _;

    fn router() -> Router {
        Router::new()
            .route(
                "/text",
                get(|| async { (StatusCode::BAD_REQUEST, "bad path") }),
            )
            .route(
                "/registry",
                get(|| async {
                    (
                        StatusCode::CONFLICT,
                        [(
                            header::CONTENT_TYPE,
                            "application/vnd.schemaregistry.v1+json",
                        )],
                        r#"{"error_code":409,"message":"incompatible"}"#,
                    )
                }),
            )
            .route("/ignores", post(|| async { "ok" }))
            .route(
                "/reads",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn(edge))
    }

    async fn call(request: Request) -> Response {
        router().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn text_errors_become_problems_with_their_status() {
        let response = call(Request::get("/text").body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(response.headers().get(header::CONNECTION).is_none());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["detail"], "bad path");
        assert_eq!(problem["title"], "Bad Request");
    }

    /// A JSON error a handler chose (the schema registry's, which
    /// Confluent's clients parse) passes as it is.
    #[tokio::test]
    async fn typed_errors_pass_as_they_are() {
        let response = call(Request::get("/registry").body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/vnd.schemaregistry.v1+json"
        );
    }

    #[tokio::test]
    async fn a_body_left_unread_closes_the_connection() {
        let request = |path: &str| {
            Request::post(path)
                .body(Body::from("x".repeat(100)))
                .unwrap()
        };
        let ignored = call(request("/ignores")).await;
        assert_eq!(ignored.headers()[header::CONNECTION], "close");
        let read = call(request("/reads")).await;
        assert!(read.headers().get(header::CONNECTION).is_none());
    }
}
