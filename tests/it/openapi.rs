//! The contract on a running pipeline: `GET /openapi.json` is an OpenAPI
//! 3.1 document, it describes every route the router serves (each route
//! we serve is in it; each operation in it is answered by a route, not by
//! the 404 or 405 fallbacks; a method it does not list is a 405), and
//! every `$ref` in it resolves. (schemathesis checks the answers against
//! it: `tests/smoke/api_contract.py`.)

use crate::helpers::*;
use serde_json::Value;

/// Every route `rfq up` serves on its HTTP address.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/rfqs"),
    ("get", "/rfqs/{id}"),
    ("get", "/rfqs/{id}/result"),
    ("get", "/rfqs/{id}/events"),
    ("get", "/rfqs/{id}/timeline"),
    ("get", "/"),
    ("get", "/app.js"),
    ("get", "/app.css"),
    ("get", "/favicon.svg"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/providers"),
    ("get", "/providers/{id}/scorecard"),
];

/// The `$ref`s in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_route_served() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&TestBroker::Embedded, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    let response = t.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());

    let paths = document["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        let operation = &document["paths"][*path][*method];
        assert!(
            operation["responses"].is_object(),
            "{method} {path} not documented"
        );
    }
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "operations beyond the routes: {paths:?}"
    );

    // Each operation reaches its route: not the fallbacks' 404 or 405.
    let id = uuid::Uuid::new_v4();
    for (method, path) in ROUTES {
        let url = format!("{}{}", t.base, path.replace("{id}", &id.to_string()));
        let request = match *method {
            "post" => t
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body("{}"),
            _ => t.client.get(&url),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {body}");
        if status == 404 {
            // The route's own 404 (its title), not the fallback's.
            let ours = body.contains("RFQ Not Found") || body.contains("Provider Not Found");
            assert!(ours, "{method} {path}: {body}");
        }
        // A method the document does not list: 405, a problem, with Allow.
        let response = t.client.delete(&url).send().await.unwrap();
        assert_eq!(response.status(), 405, "DELETE {path}");
        assert!(response.headers().contains_key("allow"), "DELETE {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    // Every reference resolves within the document.
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("local references only");
        assert!(
            document.pointer(pointer).is_some(),
            "{target} does not resolve"
        );
    }
    t.stop().await;
}
