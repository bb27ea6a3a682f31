//! HTTP pieces shared by the producer and the read API: serving a router
//! until shutdown, absolute links, and problem documents for requests no
//! route takes.

use crate::problem::Problem;
use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = router
        .fallback(crate::problem::not_found)
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "this resource does not support that method",
            )
        });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// The base URL links are built on: the configured public URL if any, else
/// `http://` and the request's `Host` header, else a relative link.
pub fn base_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map(|host| format!("http://{host}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_public_url_then_host() {
        let mut headers = HeaderMap::new();
        assert_eq!(base_url(&headers, None), "");
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(base_url(&headers, None), "http://127.0.0.1:8080");
        assert_eq!(
            base_url(&headers, Some("https://rides.example/")),
            "https://rides.example"
        );
        headers.insert(header::HOST, "evil\"host".parse().unwrap());
        assert_eq!(base_url(&headers, None), "");
    }
}
