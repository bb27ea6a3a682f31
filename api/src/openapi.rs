//! The read API's part of the OpenAPI document ([`rfq_core::openapi`]):
//! `GET /rfqs/{id}`, `/rfqs/{id}/result`, `/rfqs/{id}/events`,
//! `/rfqs/{id}/timeline`, the page
//! and its files, and the schemas of the representations
//! ([`crate::representation`]), which the producer's `202` shares.

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
        "No such RFQ for this customer (unknown, malformed, or another customer's id)",
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
                    "429": problem("This customer has as many streams open as allowed",
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

/// The representations: the running RFQ (the `202` and `GET /rfqs/{id}`),
/// the closed status, the result, an answer and a live `answer` event.
pub fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let answered = json!({
        "provider": {"type": "string"},
        "responded-at": time, "received-at": time,
    });
    let mut quote = json!({"type": "object",
    "required": ["provider", "price", "currency", "pickup-eta-seconds", "responded-at", "received-at"],
    "properties": {
        "price": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "pickup-eta-seconds": {"type": "integer", "minimum": 0},
    }});
    let mut decline = json!({"type": "object",
        "required": ["provider", "declined", "reason", "responded-at", "received-at"],
        "properties": {"declined": {"const": true}, "reason": {"type": "string"}}});
    for shape in [&mut quote, &mut decline] {
        if let (Some(properties), Some(common)) =
            (shape["properties"].as_object_mut(), answered.as_object())
        {
            properties.extend(common.clone());
        }
    }
    let list = |schema: &str| json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}});
    let count = json!({"type": "integer", "minimum": 0});
    let radius = json!({"type": ["integer", "null"], "minimum": 0,
        "description": "Metres around the pickup the providers were asked in; null for an RFQ from before vicinity"});
    let closed_by = json!({"enum": ["all-answered", "first-n", "quorum", "quality", "deadline"]});
    json!({
        "Links": {"type": "object", "required": ["self", "result", "events"], "properties": {
            "self": {"type": "string"}, "result": {"type": "string"}, "events": {"type": "string"}}},
        "Point": {"type": "object", "required": ["lat", "lon"], "additionalProperties": false,
            "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
        "Completion": {
            "description": "The completion rule (as resolved: a quorum always has its n)",
            "type": "object", "required": ["rule"], "properties": {
                "rule": {"enum": ["all", "first-n", "quorum", "deadline", "quality"]},
                "n": {"type": "integer", "minimum": 1},
                "max-price": {"type": "string"}, "currency": {"type": "string"}}},
        "Quote": quote,
        "Decline": decline,
        "Answer": {"oneOf": [{"$ref": "#/components/schemas/Quote"}, {"$ref": "#/components/schemas/Decline"}]},
        "EventAnswer": {"description": "The data of an `answer` event",
            "allOf": [{"$ref": "#/components/schemas/Answer"}, {"type": "object",
                "required": ["seq", "outcome"], "properties": {
                    "seq": {"type": "integer", "minimum": 1},
                    "outcome": {"enum": ["quoted", "declined"]}}}]},
        "RunningRfq": {"type": "object",
            "required": ["links", "id", "status", "responses-received", "providers-addressed",
                "region", "radius-m", "completion", "eta", "quotes", "declines"],
            "properties": {
                "links": {"$ref": "#/components/schemas/Links"},
                "id": {"type": "string"}, "status": {"const": "running"},
                "responses-received": count, "providers-addressed": count,
                "region": {"type": "string"}, "radius-m": radius,
                "completion": {"$ref": "#/components/schemas/Completion"},
                "eta": time, "quotes": list("Quote"), "declines": list("Decline")}},
        "Timeline": timeline_schema(),
        "ClosedRfq": {"type": "object",
            "required": ["links", "id", "status", "responses-received", "closed-by", "closed-at"],
            "properties": {
                "links": {"$ref": "#/components/schemas/Links"},
                "id": {"type": "string"}, "status": {"const": "closed"},
                "responses-received": count, "closed-by": closed_by, "closed-at": time}},
        "Result": {"type": "object",
            "required": ["links", "id", "status", "from", "to", "customer", "region", "radius-m",
                "created-at", "deadline", "closed-at", "closed-by", "completion",
                "providers-addressed", "quotes", "declines", "unanswered", "late"],
            "properties": {
                "links": {"$ref": "#/components/schemas/Links"},
                "id": {"type": "string"}, "status": {"const": "closed"},
                "from": {"$ref": "#/components/schemas/Point"},
                "to": {"$ref": "#/components/schemas/Point"},
                "customer": {"type": "string"}, "region": {"type": "string"}, "radius-m": radius,
                "created-at": time, "deadline": time, "closed-at": time, "closed-by": closed_by,
                "completion": {"$ref": "#/components/schemas/Completion"},
                "providers-addressed": count,
                "quotes": list("Quote"), "declines": list("Decline"),
                "unanswered": {"type": "array", "items": {"type": "string"}},
                "late": list("Answer")}},
    })
}

/// `GET /rfqs/{id}/timeline`'s document ([`rfq_aggregator::explain::Explanation`]).
fn timeline_schema() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let maybe_time = json!({"type": ["string", "null"], "format": "date-time"});
    let maybe_count = json!({"type": ["integer", "null"], "minimum": 0});
    let reason = json!({"enum": ["all-answered", "first-n", "quorum", "quality", "deadline"]});
    let verdict = json!({"enum": ["quoted", "declined", "late", "duplicate", "unknown-rfq",
        "not-addressed", "wrong-partition"]});
    let event = |kind: &str, required: &[&str], properties: Value| {
        let mut all = vec!["kind", "at", "after-ms", "offset"];
        all.extend_from_slice(required);
        let mut shape = json!({"type": "object", "required": all, "properties": {
            "kind": {"const": kind}, "at": time, "after-ms": {"type": "integer"},
            "offset": {"type": ["integer", "null"]}}});
        if let (Some(into), Some(more)) =
            (shape["properties"].as_object_mut(), properties.as_object())
        {
            into.extend(more.clone());
        }
        shape
    };
    json!({"type": "object",
    "required": ["id", "partition", "created-at", "deadline", "completion", "radius-m",
        "addressed", "timeline", "markers-read", "close", "stored", "agrees-with-store",
        "differences", "scan"],
    "properties": {
        "id": {"type": "string"}, "partition": {"type": "integer", "minimum": 0},
        "created-at": time, "deadline": time, "completion": {"type": "string"},
        "radius-m": maybe_count,
        "addressed": {"type": "array", "items": {"type": "object",
            "required": ["provider", "distance-m", "within-radius", "heartbeat-at",
                "heartbeat-age-ms", "placed-by"],
            "properties": {"provider": {"type": "string"}, "distance-m": maybe_count,
                "within-radius": {"type": ["boolean", "null"]}, "heartbeat-at": maybe_time,
                "heartbeat-age-ms": {"type": ["integer", "null"],
                    "description": "Age of that heartbeat at acceptance (negative: sent after)"},
                "placed-by": {"enum": ["last-heartbeat-before-acceptance",
                    "first-heartbeat-after-acceptance", null],
                    "description": "The heartbeat the distance is by: the last at or before \
                        acceptance (the one the RFQ was addressed by) or, that one compacted \
                        away, the first kept after; null when none was found"}}}},
        "timeline": {"type": "array", "items": {"oneOf": [
            event("accepted", &[], json!({})),
            event("answer", &["provider", "reply", "verdict", "seq", "why"], json!({
                "provider": {"type": "string"}, "reply": {"type": "string"},
                "verdict": verdict, "seq": {"type": ["integer", "null"], "minimum": 1},
                "why": {"type": "string"}})),
            event("marker", &["marker-at", "writer"], json!({
                "marker-at": time, "writer": {"type": "string"}})),
            event("closed", &["reason", "rule"], json!({
                "reason": reason, "rule": {"type": "string"}})),
        ]}},
        "markers-read": {"type": "integer", "minimum": 0},
        "close": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["reason", "at"],
            "properties": {"reason": reason, "at": time}}]},
        "stored": {"type": "object",
            "required": ["status", "closed-by", "closed-at", "counted", "late"],
            "properties": {"status": {"enum": ["open", "closed"]},
                "closed-by": {"oneOf": [{"type": "null"}, reason]}, "closed-at": maybe_time,
                "counted": {"type": "integer", "minimum": 0},
                "late": {"type": "integer", "minimum": 0}}},
        "agrees-with-store": {"type": "boolean"},
        "differences": {"type": "array", "items": {"type": "string"}},
        "scan": {"type": "object",
            "required": ["topic", "from-offset", "to-offset", "end-offset", "records",
                "undecodable", "stopped-after-close"],
            "properties": {"topic": {"type": "string"},
                "from-offset": {"type": ["integer", "null"]},
                "to-offset": {"type": ["integer", "null"]},
                "end-offset": {"type": ["integer", "null"]},
                "records": {"type": "integer", "minimum": 0},
                "undecodable": {"type": "integer", "minimum": 0},
                "stopped-after-close": {"type": "boolean"}}},
    }})
}
