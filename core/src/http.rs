//! HTTP pieces shared by the producer and the read API: serving a router
//! until shutdown, the links to an RFQ's resources (one rule for bodies and
//! `Location` headers), and problem documents for requests no route takes
//! (and for errors axum answers itself: see [`edge`]); routers that know
//! what they serve ([`Routes`]).

mod edge;
mod routes;

pub use routes::{Routes, Served};

use crate::{CorrelationId, problem::Problem};
use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish. Paths no route takes are `404`, methods a
/// route does not take `405` (with `Allow`); every error is a problem
/// document and a response after which the connection closes says
/// `connection: close` ([`edge`]).
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
        })
        .layer(axum::middleware::from_fn(edge::edge));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// How links to our resources are written, shared by the producer (the
/// `202`) and the read API (the `303` and every body).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LinkSettings {
    /// Base URL of links in responses (e.g. https://rides.example); by
    /// default taken from the request's Host header. Given, `Location`
    /// headers are absolute too, so a client following them reaches the
    /// read API wherever it is served.
    #[arg(long = "public-url", env = "RFQ_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl LinkSettings {
    /// The links of the RFQ `id`, for a request with `headers`.
    pub fn rfq(&self, headers: &HeaderMap, id: &CorrelationId) -> RfqLinks {
        RfqLinks {
            base: base_url(headers, self.public_url.as_deref()),
            path: format!("/rfqs/{id}"),
            absolute_location: self.public_url.is_some(),
        }
    }
}

impl LinkSettings {
    /// Scheme and authority of links for a request with `headers` (empty:
    /// relative links), for resources other than an RFQ's.
    pub fn base(&self, headers: &HeaderMap) -> String {
        base_url(headers, self.public_url.as_deref())
    }
}

/// The links of one RFQ: its status resource and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfqLinks {
    /// Scheme and authority (empty: relative links).
    base: String,
    /// `/rfqs/{id}`.
    path: String,
    /// `Location` headers are absolute (a public URL is configured).
    absolute_location: bool,
}

impl RfqLinks {
    /// The status resource, `…/rfqs/{id}`.
    pub fn status(&self) -> String {
        format!("{}{}", self.base, self.path)
    }

    /// The result, `…/rfqs/{id}/result`.
    pub fn result(&self) -> String {
        format!("{}{}/result", self.base, self.path)
    }

    /// Its live events, `…/rfqs/{id}/events`.
    pub fn events(&self) -> String {
        format!("{}{}/events", self.base, self.path)
    }

    /// The `links` member of every representation of the RFQ.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "self": self.status(),
            "result": self.result(),
            "events": self.events(),
        })
    }

    /// A `Location` header to the status resource (`202`).
    pub fn status_location(&self) -> String {
        self.location(&self.path)
    }

    /// A `Location` header to the result (`303`).
    pub fn result_location(&self) -> String {
        self.location(&format!("{}/result", self.path))
    }

    /// Absolute with a public URL, else relative (the client resolves it
    /// against the URL it asked).
    fn location(&self, path: &str) -> String {
        if self.absolute_location {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        }
    }
}

/// The base URL links are built on: the configured public URL if any, else
/// `http://` and the request's `Host` header, else a relative link.
fn base_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
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

    #[test]
    fn locations_are_absolute_only_with_a_public_url() {
        let id = CorrelationId::new_random();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "api:8081".parse().unwrap());
        let links = LinkSettings::default().rfq(&headers, &id);
        assert_eq!(links.status(), format!("http://api:8081/rfqs/{id}"));
        assert_eq!(links.result(), format!("http://api:8081/rfqs/{id}/result"));
        assert_eq!(links.status_location(), format!("/rfqs/{id}"));
        assert_eq!(links.result_location(), format!("/rfqs/{id}/result"));
        let public = LinkSettings {
            public_url: Some("https://rides.example/".into()),
        };
        let links = public.rfq(&headers, &id);
        assert_eq!(
            links.status_location(),
            format!("https://rides.example/rfqs/{id}")
        );
        assert_eq!(
            links.result_location(),
            format!("https://rides.example/rfqs/{id}/result")
        );
        assert_eq!(links.json()["self"], links.status());
    }
}
