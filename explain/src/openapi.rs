//! The OpenAPI schema of an explanation: `GET /rfqs/{id}/timeline`'s
//! body, beside the type it describes ([`crate::Explanation`]).

use serde_json::{Value, json};

/// `GET /rfqs/{id}/timeline`'s document ([`Explanation`](crate::Explanation)),
/// as the read API's OpenAPI document names it (`Timeline`).
pub fn schema() -> Value {
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
