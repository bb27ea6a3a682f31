//! The producer's part of the OpenAPI document ([`rfq_core::openapi`]):
//! `POST /rfqs`, its body with the bounds this producer enforces, the
//! `Idempotency-Key` header, every answer. The `202`'s body is the read
//! API's running representation ([`rfq_representation::openapi::schemas`]).

use crate::ProducerSettings;
use rfq_core::openapi::{forbidden, problem, unauthorized};
use serde_json::{Value, json};

/// `paths` and `components` of `POST /rfqs` under `settings`.
pub fn part(settings: &ProducerSettings) -> Value {
    let mut part = post(settings);
    if let (Some(schemas), Value::Object(shared)) = (
        part["components"]["schemas"].as_object_mut(),
        rfq_representation::openapi::schemas(),
    ) {
        schemas.extend(shared);
    }
    part
}

/// `POST /rfqs` and its own schemas.
fn post(settings: &ProducerSettings) -> Value {
    let max_deadline = settings.limits.max_deadline_seconds;
    let default_deadline = settings.limits.default_deadline_seconds;
    let location = json!({"Location": {
        "description": "`/rfqs/{id}`, the RFQ's status (absolute with --public-url)",
        "required": true, "schema": {"type": "string"}}});
    json!({
        "paths": {"/rfqs": {"post": {
            "operationId": "postRfq",
            "summary": "Ask every unicorn near the pickup point for a quote",
            "description": "Accepted once the RFQ is recorded and published: follow `Location`.",
            "parameters": [{
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Safe retries: a Structured Field String (RFC 9651) of 1 to 255 \
                    printable ASCII characters (escapes `\\\"` and `\\\\`), or the same key bare \
                    if it holds no space, quote, backslash, comma or semicolon. A retry of the \
                    same request gets the first answer again.",
                "schema": {"type": "string", "pattern": idempotency_key_pattern()},
            }],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NewRfq"}}}},
            "responses": {
                "202": {"description": "Accepted (or, with an Idempotency-Key used before for \
                    the same request, the first answer again)",
                    "headers": location,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/RunningRfq"}}}},
                "400": problem("The body is not JSON, or the Idempotency-Key is malformed",
                    &["Malformed JSON", "Malformed Idempotency-Key"], &[], json!({})),
                "401": unauthorized(),
                "403": forbidden("A partner's or an operator's key: only a customer's key \
                    posts RFQs"),
                "409": problem("The first request with this Idempotency-Key is still being handled",
                    &["Request In Progress"], &["Retry-After"], json!({})),
                "413": problem(&format!("The body is over {} bytes", settings.max_body_bytes),
                    &["Payload Too Large"], &[], json!({"limit-bytes": {"type": "integer"}})),
                "415": problem("Not sent as JSON (Content-Type: application/json or */*+json)",
                    &["Unsupported Media Type"], &[], json!({})),
                "422": problem("JSON that is not a valid RFQ (`field` names the culprit), or an \
                    Idempotency-Key used before with another request",
                    &["Invalid RFQ", "Idempotency-Key Reused"], &[],
                    json!({"field": {"type": "string"}})),
                "429": problem("This customer submits faster, or has more RFQs open, than allowed",
                    &["Rate Limited", "Too Many Open RFQs For This Customer"], &["Retry-After"],
                    json!({"limit": {"type": "integer"}})),
                "503": problem("Too many RFQs open, the intake busy, the aggregator of the \
                    RFQ's partition too far behind for its result to come by its ETA, or Kafka \
                    or the store did not record the RFQ: try again",
                    &["Too Many Open RFQs", "Intake Busy", "Aggregator Behind", "Service Unavailable"],
                    &["Retry-After"],
                    json!({"open-rfqs": {"type": "integer"}, "limit": {"type": "integer"},
                        "lag-ms": {"type": "integer"}, "limit-ms": {"type": "integer"}})),
            },
        }}},
        "components": {"schemas": {
            "NewRfq": new_rfq(max_deadline, default_deadline),
            "CompletionRequest": completion(),
        }},
    })
}

/// Either form of a key: quoted (with its two escapes) or bare.
fn idempotency_key_pattern() -> &'static str {
    concat!(
        r#"^[ \t]*("([\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\]){1,255}""#,
        r#"|[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,255})[ \t]*$"#
    )
}

/// The body of `POST /rfqs`.
fn new_rfq(max_deadline: u32, default_deadline: u32) -> Value {
    json!({
        "type": "object",
        "required": ["from", "to"],
        "additionalProperties": false,
        "properties": {
            "from": {"$ref": "#/components/schemas/Point"},
            "to": {"$ref": "#/components/schemas/Point"},
            "customer": {"type": ["string", "null"], "deprecated": true,
                "description": "The API key's customer: sent by older clients, another is a 422"},
            "deadline-seconds": {"type": ["integer", "null"], "minimum": 1, "maximum": max_deadline,
                "default": default_deadline,
                "description": "Seconds until the RFQ closes at the latest"},
            "completion": {"oneOf": [
                {"$ref": "#/components/schemas/CompletionRequest"}, {"type": "null"}]},
        },
        "description": "An optional member sent as null is left out",
    })
}

/// The completion rule as asked for, one shape per `rule` (default: all).
fn completion() -> Value {
    let rule = |name: &str, required: &[&str], properties: Value| {
        let mut properties = properties;
        properties["rule"] = json!({"const": name});
        let mut required: Vec<&str> = required.to_vec();
        required.push("rule");
        json!({"type": "object", "required": required, "additionalProperties": false,
            "properties": properties})
    };
    let n = json!({"type": "integer", "minimum": 1, "maximum": u32::MAX});
    json!({
        "description": "When to close before the deadline: every addressed provider answered \
            (all, the default), the first n quotes, a quorum of n answers (without n: a \
            majority of the addressed), only the deadline, or a quote at or below max-price",
        "oneOf": [
            rule("all", &[], json!({})),
            rule("first-n", &["n"], json!({"n": n})),
            rule("quorum", &[], json!({"n": {"oneOf": [n, {"type": "null"}]}})),
            rule("deadline", &[], json!({})),
            rule("quality", &["max-price", "currency"], json!({
                "max-price": {"type": "string", "allOf": [
                    {"pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$"},
                    {"pattern": "[1-9]"},
                    {"pattern": "^0*([0-9]{1,6}(\\.[0-9]*)?|1000000(\\.0*)?)$"},
                ], "description": "A positive amount of at most 1000000.00, at most two decimals"},
                "currency": {"type": "string", "pattern": "^\\s*[A-Z]{3}\\s*$"},
            })),
        ],
        "discriminator": {"propertyName": "rule"},
    })
}
