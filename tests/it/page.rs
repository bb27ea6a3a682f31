//! The customer page on a running pipeline: `GET /` is the page and every
//! file it loads is served, each with its content type and the
//! Content-Security-Policy; the API beside it is unchanged. (The page
//! itself is driven in a browser by `tests/browser/`.)

use crate::helpers::*;

/// `GET path`: status, content type, CSP, body.
async fn fetch(t: &TestPipeline, path: &str) -> (u16, String, String, String) {
    let response = t.get(path).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    let status = response.status().as_u16();
    (status, content_type, csp, response.text().await.unwrap())
}

/// The same-origin files `html` loads (`src="/…"`, `href="/…"`).
fn loaded(html: &str) -> Vec<String> {
    ["src=\"/", "href=\"/"]
        .iter()
        .flat_map(|attribute| html.split(attribute).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(|path| format!("/{path}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&TestBroker::Embedded, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;

    let (status, content_type, csp, html) = fetch(&t, "/").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(html.contains("id=\"rfq-form\""), "{html:.200}");

    let files = loaded(&html);
    for expected in ["/app.js", "/app.css", "/favicon.svg"] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
    for file in &files {
        let (status, content_type, csp, body) = fetch(&t, file).await;
        assert_eq!(status, 200, "{file}");
        assert!(!body.is_empty(), "{file}");
        assert!(csp.starts_with("default-src 'self';"), "{file}: {csp}");
        let expected = match file.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{file}: unexpected kind {other:?}"),
        };
        assert_eq!(content_type, expected, "{file}");
    }
    let (_, _, _, script) = fetch(&t, "/app.js").await;
    assert!(
        script.contains("new EventSource(") && script.contains("'/rfqs'"),
        "the script posts RFQs and follows their events"
    );

    // The API the page talks to, beside it.
    let (location, _) = t.submit(BERLIN, 30).await;
    assert_eq!(t.get(&location).await.status(), 200);
    let (status, content_type, _, _) = fetch(&t, "/no-such-page").await;
    assert_eq!(
        (status, content_type.as_str()),
        (404, "application/problem+json")
    );
    t.stop().await;
}
