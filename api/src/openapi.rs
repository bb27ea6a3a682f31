//! The read API's part of the OpenAPI document ([`rfq_core::openapi`]):
//! `GET /rfqs/{id}`, `/rfqs/{id}/result`, `/rfqs/{id}/events`,
//! `/rfqs/{id}/timeline`, the page
//! and its files, the schemas of the representations
//! ([`rfq_representation::openapi`], shared with the producer's `202`) and
//! of the timeline ([`rfq_explain::openapi`]).

use rfq_core::openapi::{problem, unauthorized, unavailable};
use serde_json::{Value, json};

/// `paths` and `components` of the read API and the customer page, with
/// the scorecards' ([`crate::scorecards::openapi::part`]).
pub fn part() -> Value {
    let mut part = rfqs();
    let scorecards = crate::scorecards::openapi::part();
    for member in ["paths", "components"] {
        let (Some(target), Value::Object(entries)) = (
            part.get_mut(member).and_then(Value::as_object_mut),
            scorecards[member].clone(),
        ) else {
            continue;
        };
        for (name, value) in entries {
            match (target.get_mut(&name), value) {
                (Some(Value::Object(inner)), Value::Object(more)) => inner.extend(more),
                (_, value) => {
                    target.insert(name, value);
                }
            }
        }
    }
    part
}

/// The RFQ routes and the page.
fn rfqs() -> Value {
    let id = json!([{
        "name": "id", "in": "path", "required": true,
        "description": "The RFQ's id (as in `Location` of the 202); any other text is a 404",
        "schema": {"type": "string"},
    }]);
    let not_found = problem(
        "No such RFQ for this key (unknown, malformed, another customer's, or to a \
            partner's key not addressed to one of its providers)",
        &["RFQ Not Found"],
        &[],
        json!({}),
    );
    let store = unavailable(&["Service Unavailable"]);
    let result_location = json!({"Location": {
        "description": "`/rfqs/{id}/result` (absolute with --public-url)",
        "required": true,
        "schema": {"type": "string"},
    }});
    json!({
        "paths": {
            "/rfqs/{id}": {"get": {
                "operationId": "getRfq",
                "summary": "An RFQ: running with its answers so far, or 303 to its result",
                "parameters": id,
                "responses": {
                    "200": {"description": "Still gathering answers", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/RunningRfq"}}}},
                    "303": {"description": "Closed: see the result", "headers": result_location,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ClosedRfq"}}}},
                    "401": unauthorized(),
                    "404": not_found,
                    "503": store,
                },
            }},
            "/rfqs/{id}/result": {"get": {
                "operationId": "getRfqResult",
                "summary": "The result of a closed RFQ",
                "parameters": id,
                "responses": {
                    "200": {"description": "Every addressed provider once: quotes (cheapest first), \
                        declines or unanswered; late answers again under late",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Result"}}}},
                    "401": unauthorized(),
                    "404": not_found,
                    "409": problem("Still running: the result comes at the latest at `eta`",
                        &["RFQ Still Running"], &[], json!({
                            "eta": {"type": "string", "format": "date-time"},
                            "links": {"$ref": "#/components/schemas/Links"},
                        })),
                    "503": store,
                },
            }},
            "/rfqs/{id}/events": {"get": {
                "operationId": "getRfqEvents",
                "summary": "The RFQ's answers live (Server-Sent Events), then its close",
                "description": "`event: answer`, `id: N`, data an `EventAnswer`, one per answer \
                    in the order the aggregator kept them; then `event: closed`, `id: closed`, \
                    data a `ClosedRfq`; then the stream ends. Also takes the key as \
                    `?access_token=` (an EventSource sends no headers).",
                "parameters": [
                    id[0],
                    {"name": "Last-Event-ID", "in": "header", "required": false,
                        "description": "Resume after answer N; `closed`: nothing left (204)",
                        "schema": {"type": "string", "pattern": "^[ \\t]*([0-9]{1,9}|closed)[ \\t]*$"}},
                    {"name": "access_token", "in": "query", "required": false,
                        "description": "The API key, where no Authorization header can be sent",
                        "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The stream", "content": {"text/event-stream": {
                        "schema": event_schema()}}},
                    "204": {"description": "Last-Event-ID: closed: the stream had ended"},
                    "400": problem("Last-Event-ID is not an event of this stream",
                        &["Bad Last-Event-ID"], &[], json!({})),
                    "401": unauthorized(),
                    "404": not_found,
                    "429": problem("This key's holder has as many streams open as allowed",
                        &["Too Many Streams"], &["Retry-After"], json!({})),
                    "503": problem("The server holds as many streams as it may, or the store \
                        cannot be read", &["Too Many Streams", "Service Unavailable"],
                        &["Retry-After"], json!({})),
                },
            }},
            "/rfqs/{id}/timeline": {"get": {
                "operationId": "getRfqTimeline",
                "summary": "The RFQ's story, rebuilt from the log and checked against the store",
                "description": "Replays the RFQ's partition of the quotes topic as the aggregator \
                    judges it: whom it was addressed to and why (distance from the pickup, \
                    heartbeat age), every answer with its broker timestamp and verdict, the \
                    deadline marker that closed it, the close and its rule. \
                    `agrees-with-store` is false, with the `differences`, where the log and the \
                    stored result disagree. Reads the log: slower than the other reads.",
                "parameters": id,
                "responses": {
                    "200": {"description": "The explanation", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Timeline"}}}},
                    "401": unauthorized(),
                    "404": not_found,
                    "503": unavailable(&["Service Unavailable"]),
                },
            }},
            "/": page("getPage", "The customer page", "text/html; charset=utf-8"),
            "/app.js": page("getPageScript", "The page's script", "text/javascript; charset=utf-8"),
            "/app.css": page("getPageStyle", "The page's style", "text/css; charset=utf-8"),
            "/favicon.svg": page("getPageIcon", "The page's icon", "image/svg+xml"),
        },
        "components": {"schemas": schemas()},
    })
}

/// One event of the stream (schemathesis and OpenAPI 3.2's `itemSchema`
/// read a `text/event-stream` schema per event): its `data` is JSON.
fn event_schema() -> Value {
    let event = |name: &str, id: Value, data: &str| {
        json!({"type": "object", "required": ["event", "id", "data"], "properties": {
            "event": {"const": name},
            "id": id,
            "data": {"type": "string", "contentMediaType": "application/json",
                "contentSchema": {"$ref": format!("#/components/schemas/{data}")}},
        }})
    };
    json!({"oneOf": [
        event("answer", json!({"type": "string", "pattern": "^[1-9][0-9]*$"}), "EventAnswer"),
        event("closed", json!({"const": "closed"}), "ClosedRfq"),
    ]})
}

/// A file of the page: no key; `304` when `If-None-Match` names its tag.
fn page(operation: &str, summary: &str, content_type: &str) -> Value {
    let headers = json!({
        "ETag": {"description": "The file's entity tag", "required": true,
            "schema": {"type": "string"}},
        "Cache-Control": {"description": "`no-cache`", "required": true,
            "schema": {"const": "no-cache"}},
        "Content-Security-Policy": {"description": "This origin only",
            "required": true, "schema": {"type": "string"}},
    });
    json!({"get": {
        "operationId": operation,
        "summary": summary,
        "security": [],
        "parameters": [{"name": "If-None-Match", "in": "header", "required": false,
            "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": summary, "headers": headers.clone(),
                "content": {content_type: {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified", "headers": headers},
        },
    }})
}

/// The representations ([`rfq_representation::openapi::schemas`]) and the
/// timeline ([`rfq_explain::openapi::schema`]).
fn schemas() -> Value {
    let mut schemas = rfq_representation::openapi::schemas();
    if let Some(all) = schemas.as_object_mut() {
        all.insert("Timeline".to_owned(), rfq_explain::openapi::schema());
    }
    schemas
}
