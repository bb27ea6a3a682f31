//! The contract on a running pipeline: `GET /openapi.json` is an OpenAPI
//! 3.1 document, it describes every route the router serves (each route
//! we serve is in it; each operation in it is answered by a route, not by
//! the 404 or 405 fallbacks; a method it does not list is a 405), and
//! every `$ref` in it resolves. (schemathesis checks the answers against
//! it: `tests/smoke/api_contract.py`.)

use crate::helpers::*;
use rfq_core::http::Served;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every route `rfq up` serves on its HTTP address: those of each router
/// it merges (`rfq/src/pipeline.rs`), each list the one its router is built
/// with (`rfq_core::http::Routes`), not one kept here by hand.
fn served() -> BTreeSet<Served> {
    let pieces = [
        rfq_producer::served(),
        rfq_api::served(),
        rfq_core::metrics::routes::<()>().served().to_vec(),
        rfq_core::openapi::routes::<()>(Value::Null)
            .served()
            .to_vec(),
    ];
    let all: Vec<Served> = pieces.concat();
    let set: BTreeSet<Served> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "a route served twice: {all:?}");
    set
}

/// The operations `document` describes, (method, path).
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.iter().map(move |(method, operation)| {
                assert!(
                    operation["responses"].is_object(),
                    "{method} {path} without responses"
                );
                (method.clone(), path.clone())
            })
        })
        .collect()
}

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

    // Both ways: every route served is documented, every operation
    // documented is served.
    let served = served();
    let served_named: BTreeSet<(String, String)> = served
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let documented = documented(&document);
    let undocumented: Vec<_> = served_named.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served_named).collect();
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
    assert!(!documented.is_empty(), "no operations documented");

    // Each operation reaches its route: not the fallbacks' 404 or 405.
    let id = uuid::Uuid::new_v4();
    for (method, path) in &served {
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
