//! The HTTP contract as an OpenAPI 3.1 document, served at
//! `GET /openapi.json`.
//!
//! Each crate that owns routes describes them next to them (the producer
//! `POST /rfqs`, the read API `/rfqs/{id}…` and the page, this crate
//! `/health`, `/metrics` and `/openapi.json`) as a partial document:
//! `paths` and `components`. Where a router is assembled, [`document`]
//! merges the parts of the routes it serves, so every process describes
//! exactly what it answers. The parts are JSON values (OpenAPI 3.1 schemas
//! are JSON Schema 2020-12): written as the JSON a client reads, with no
//! code generator between the contract and the routes.
//!
//! What every part shares is here: the bearer security scheme (the
//! default; routes without a key say `security: []`), the problem
//! document schema, and helpers for problem responses with their titles
//! and headers.

use crate::http::Routes;
use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The document of the routes described by `parts`, merged: their `paths`
/// and every map under their `components`. A later part's entry with the
/// same name replaces an earlier one's (the shared ones are identical).
pub fn document(parts: impl IntoIterator<Item = Value>) -> Value {
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rfq",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ride quotes from every unicorn near the pickup point: post an RFQ, \
                follow its answers live, read its result. Errors are RFC 9457 problem \
                documents (application/problem+json).",
        },
        "security": [{"bearer": []}],
        "paths": {},
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, `Authorization: Bearer <key>`; it names who \
                        asks, in one of three roles. A customer's key posts RFQs and reads its \
                        own RFQs, no scorecard (403). A partner's key reads its own providers' \
                        scorecards (another's is 404, as an unknown one) and the RFQs addressed \
                        to one of its providers without the customer and with its own \
                        providers' answers only (any other RFQ is 404); it posts nothing (403). \
                        An operator's key reads every scorecard and RFQ and posts nothing (403). \
                        Without a key, or with one that names nobody: 401 with WWW-Authenticate.",
                },
            },
            "schemas": {"Problem": problem_schema()},
            "headers": shared_headers(),
        },
    });
    for part in std::iter::once(paths()).chain(parts) {
        merge(&mut document, part);
    }
    document
}

/// Merges the `paths` and `components` of `part` into `document`.
fn merge(document: &mut Value, part: Value) {
    let Value::Object(mut part) = part else {
        return;
    };
    if let Some(Value::Object(paths)) = part.remove("paths") {
        extend(&mut document["paths"], paths);
    }
    if let Some(Value::Object(components)) = part.remove("components") {
        for (kind, entries) in components {
            if let Value::Object(entries) = entries {
                let target = &mut document["components"][kind.as_str()];
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                extend(target, entries);
            }
        }
    }
}

fn extend(target: &mut Value, entries: Map<String, Value>) {
    if let Value::Object(target) = target {
        target.extend(entries);
    }
}

/// `GET /openapi.json`, serving `document`.
pub fn router<S: Clone + Send + Sync + 'static>(document: Value) -> Router<S> {
    routes(document).into_router()
}

/// The routes of [`router`], with what they serve.
pub fn routes<S: Clone + Send + Sync + 'static>(document: Value) -> Routes<S> {
    let body: Arc<str> = document.to_string().into();
    Routes::new().get(OPENAPI_PATH, move || {
        let body = body.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body.to_string(),
            )
                .into_response()
        }
    })
}

/// This crate's routes: `/health`, `/metrics` (see [`crate::metrics`])
/// and `/openapi.json`, none of which needs a key.
pub fn paths() -> Value {
    json!({
        "paths": {
            "/health": {"get": {
                "operationId": "health",
                "summary": "Liveness: 200 while the process serves HTTP",
                "security": [],
                "responses": {"200": {
                    "description": "Serving",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "ok"}},
                    }}},
                }},
            }},
            "/metrics": {"get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics, text exposition format 0.0.4",
                "security": [],
                "responses": {"200": {
                    "description": "Every metric of this process",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }},
            }},
            OPENAPI_PATH: {"get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {
                    "description": "The OpenAPI 3.1 document of the routes this process serves",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }},
            }},
        },
    })
}

/// The problem document (RFC 9457); extension members per problem.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document. `title` is stable per kind of problem, \
            `type` is its URI; extension members (`field`, `eta`, `limit`, …) as documented \
            per response.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
        },
    })
}

/// Headers several responses carry, under `components.headers`.
fn shared_headers() -> Value {
    json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "required": true,
            "schema": {"type": "integer", "minimum": 0},
        },
        "WWW-Authenticate": {
            "description": "`Bearer realm=\"rfq\"`, with `error=\"invalid_token\"` for a key \
                that names nobody",
            "required": true,
            "schema": {"type": "string", "pattern": "^Bearer realm=\"rfq\""},
        },
    })
}

/// A reference to a shared header.
pub fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// A problem response: `description`, the problem `titles` it may carry,
/// the `headers` it sends (names of shared headers) and `extra` members of
/// the problem document (their schemas).
pub fn problem(description: &str, titles: &[&str], headers: &[&str], extra: Value) -> Value {
    let mut specific = json!({"properties": {"title": {"enum": titles}}});
    if let Value::Object(extra) = extra {
        for (name, schema) in extra {
            specific["properties"][name.as_str()] = schema;
        }
    }
    let mut response = json!({
        "description": description,
        "content": {crate::problem::PROBLEM_JSON: {"schema": {
            "allOf": [{"$ref": "#/components/schemas/Problem"}, specific],
        }}},
    });
    if !headers.is_empty() {
        response["headers"] = headers
            .iter()
            .map(|name| ((*name).to_owned(), header_ref(name)))
            .collect::<Map<_, _>>()
            .into();
    }
    response
}

/// The `401` of every route that needs a key.
pub fn unauthorized() -> Value {
    problem(
        "No API key, or one that names nobody",
        &["Unauthorized"],
        &["WWW-Authenticate"],
        json!({}),
    )
}

/// The `403` of a route a key's role may not use (a problem document).
pub fn forbidden(description: &str) -> Value {
    problem(description, &["Forbidden"], &[], json!({}))
}

/// The `503` of a route whose keys (or store) cannot be read right now.
pub fn unavailable(titles: &[&str]) -> Value {
    problem("Try again shortly", titles, &["Retry-After"], json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_merged_with_the_shared_components() {
        let part = json!({
            "paths": {"/x": {"get": {"responses": {}}}},
            "components": {"schemas": {"X": {"type": "object"}}},
        });
        let document = document([part]);
        assert_eq!(document["openapi"], "3.1.0");
        for path in ["/x", "/health", "/metrics", OPENAPI_PATH] {
            assert!(document["paths"][path].is_object(), "{path}");
        }
        assert!(document["components"]["schemas"]["X"].is_object());
        assert!(document["components"]["schemas"]["Problem"].is_object());
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn a_problem_response_names_its_titles_and_headers() {
        let response = problem("d", &["A", "B"], &["Retry-After"], json!({"n": {}}));
        let schema = &response["content"][crate::problem::PROBLEM_JSON]["schema"];
        assert_eq!(
            schema["allOf"][1]["properties"]["title"]["enum"],
            json!(["A", "B"])
        );
        assert!(schema["allOf"][1]["properties"]["n"].is_object());
        assert_eq!(
            response["headers"]["Retry-After"]["$ref"],
            "#/components/headers/Retry-After"
        );
    }
}
