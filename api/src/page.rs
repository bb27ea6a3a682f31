//! The customer page at `/`: a form to ask for quotes (demo spots in
//! Berlin, deadline, completion rule), the quotes arriving live from
//! `GET /rfqs/{id}/events` with a countdown to the ETA, then the result,
//! cheapest first, late answers marked. Plain HTML, CSS and JavaScript in
//! `api/page/`, compiled into the binary: nothing to install beside it.
//!
//! The page talks to the origin it is served from (`POST /rfqs` there too),
//! so it works where the producer and the read API share an address: `rfq
//! up`, or a gateway routing both. Every asset is sent with a
//! Content-Security-Policy allowing this origin only (no inline script or
//! style), `nosniff`, and `cache-control: no-cache` with an `ETag`, so a
//! browser revalidates and sees a new binary's page at once.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rfq_core::http::Routes;
use std::sync::LazyLock;

/// The page's Content-Security-Policy: scripts, styles, images and
/// requests (`fetch`, `EventSource`) from this origin only; no plugins,
/// no framing, no `<base>` rewriting, forms submitted here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// One file of the page.
struct Asset {
    /// Its content type.
    content_type: &'static str,
    /// Its bytes, compiled in.
    body: &'static str,
    /// Its entity tag: a hash of the body, quoted.
    etag: LazyLock<String>,
}

/// A strong entity tag of `body` (64-bit FNV-1a): changes with the content.
fn etag_of(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            content_type: $content_type,
            body: include_str!(concat!("../page/", $file)),
            etag: LazyLock::new(|| etag_of(include_str!(concat!("../page/", $file)))),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("app.css", "text/css; charset=utf-8");
static ICON: Asset = asset!("favicon.svg", "image/svg+xml");

/// The page's routes: `/` and the files it loads.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Routes<S> {
    Routes::new()
        .get("/", |headers: HeaderMap| serve(&INDEX, headers))
        .get("/app.js", |headers: HeaderMap| serve(&SCRIPT, headers))
        .get("/app.css", |headers: HeaderMap| serve(&STYLE, headers))
        .get("/favicon.svg", |headers: HeaderMap| serve(&ICON, headers))
}

/// `asset`, or `304` when the browser holds it already (`If-None-Match`).
async fn serve(asset: &'static Asset, headers: HeaderMap) -> Response {
    let etag: &str = &asset.etag;
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn get(path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = routes::<()>()
            .into_router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_file_of_the_page_is_served_with_its_type_and_the_policy() {
        for (path, content_type, starts) in [
            ("/", "text/html; charset=utf-8", "<!doctype html>"),
            ("/app.js", "text/javascript; charset=utf-8", "//"),
            ("/app.css", "text/css; charset=utf-8", "/*"),
            ("/favicon.svg", "image/svg+xml", "<svg"),
        ] {
            let (status, headers, body) = get(path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(body.starts_with(starts), "{path}: {body:.40}");

            let etag = headers[header::ETAG].to_str().unwrap().to_owned();
            let (status, headers, body) = get(path, Some(&etag)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
            assert_eq!(headers[header::ETAG], etag.as_str());
            assert!(body.is_empty());
            let (status, _, _) = get(path, Some("\"other\"")).await;
            assert_eq!(status, StatusCode::OK, "{path}: another tag");
        }
    }

    #[test]
    fn the_page_loads_nothing_inline_and_nothing_from_elsewhere() {
        let html = INDEX.body;
        assert!(html.contains(r#"<script src="/app.js" defer></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/app.css">"#));
        // The policy forbids inline code and style: none may be there.
        for inline in [
            "<script>",
            "<style",
            " style=",
            " onclick=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!html.contains(inline), "inline {inline:?} in index.html");
        }
        for file in [INDEX.body, SCRIPT.body, STYLE.body] {
            assert!(!file.contains("http://") && !file.contains("https://"));
        }
        // Every element the page's script looks up exists.
        for id in SCRIPT
            .body
            .split("$('")
            .skip(1)
            .filter_map(|rest| rest.split('\'').next())
            .filter(|id| !id.contains('$'))
        {
            assert!(
                html.contains(&format!("id=\"{id}\"")),
                "no #{id} in index.html"
            );
        }
    }

    #[test]
    fn etags_follow_the_content() {
        assert_eq!(etag_of("a"), etag_of("a"));
        assert_ne!(etag_of("a"), etag_of("b"));
        assert_ne!(*INDEX.etag, *SCRIPT.etag);
    }
}
