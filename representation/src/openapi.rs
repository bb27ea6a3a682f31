//! The OpenAPI schemas of the representations ([`crate`]): the running
//! RFQ (the producer's `202` and `GET /rfqs/{id}`), the closed status, the
//! result, an answer and a live `answer` event. The producer's and the read
//! API's parts of the document ([`rfq_core::openapi`]) both take them from
//! here.

use serde_json::{Value, json};

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
        "ClosedRfq": {"type": "object",
            "required": ["links", "id", "status", "responses-received", "closed-by", "closed-at"],
            "properties": {
                "links": {"$ref": "#/components/schemas/Links"},
                "id": {"type": "string"}, "status": {"const": "closed"},
                "responses-received": count, "closed-by": closed_by, "closed-at": time}},
        "Result": {"type": "object",
            "required": ["links", "id", "status", "from", "to", "region", "radius-m",
                "created-at", "deadline", "closed-at", "closed-by", "completion",
                "providers-addressed", "quotes", "declines", "unanswered", "late"],
            "properties": {
                "links": {"$ref": "#/components/schemas/Links"},
                "id": {"type": "string"}, "status": {"const": "closed"},
                "from": {"$ref": "#/components/schemas/Point"},
                "to": {"$ref": "#/components/schemas/Point"},
                "customer": {"type": "string", "description": "Who asked: shown to the customer's \
                    and operators' keys, never to a partner's (which sees its own providers' \
                    answers only)"},
                "region": {"type": "string"}, "radius-m": radius,
                "created-at": time, "deadline": time, "closed-at": time, "closed-by": closed_by,
                "completion": {"$ref": "#/components/schemas/Completion"},
                "providers-addressed": count,
                "quotes": list("Quote"), "declines": list("Decline"),
                "unanswered": {"type": "array", "items": {"type": "string"}},
                "late": list("Answer")}},
    })
}
