//! The OpenAPI description of the scorecard routes ([`super`]), merged
//! into the read API's part ([`crate::openapi::part`]).

use rfq_core::openapi::{forbidden, problem, unauthorized, unavailable};
use serde_json::{Value, json};

/// `paths` and `components` of `GET /providers` and
/// `GET /providers/{id}/scorecard`.
pub fn part() -> Value {
    let time = |description: &str| json!({"type": "string", "format": "date-time", "description": description});
    let window = json!([
        {"name": "window", "in": "query", "required": false,
            "description": "The window up to `until` (or now): hours or days, `1h`, `24h` \
                (the default), `7d`, at most 31 days; not with `since`",
            "schema": {"type": "string",
                "pattern": "^(([1-9]|[12][0-9]|3[01])d|([1-9]|[1-9][0-9]|[1-6][0-9]{2}|7[0-3][0-9]|74[0-4])h)$"}},
        {"name": "since", "in": "query", "required": false,
            "description": "RFQs created at or after this (RFC 3339); default `until` less 24 hours",
            "schema": {"type": "string", "format": "date-time"}},
        {"name": "until", "in": "query", "required": false,
            "description": "RFQs created before this (RFC 3339); default now",
            "schema": {"type": "string", "format": "date-time"}},
    ]);
    let bad_window = |titles: &[&str]| {
        problem(
            "A window that is not hours or days, a date-time that is not RFC 3339, \
             `until` not after `since`, more than 31 days, or `window` with `since`/`until`",
            titles,
            &[],
            json!({}),
        )
    };
    let store = unavailable(&["Service Unavailable"]);
    let mut list_parameters = window.clone();
    if let Value::Array(parameters) = &mut list_parameters {
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
            "description": "Providers on a page, 1 to 100 (default 20)",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100}}));
        parameters.push(
            json!({"name": "page-token", "in": "query", "required": false,
            "description": "Where a page starts: as the `next` link carries it (a provider id)",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}),
        );
    }
    let mut card_parameters = window;
    if let Value::Array(parameters) = &mut card_parameters {
        parameters.insert(
            0,
            json!({"name": "id", "in": "path", "required": true,
            "description": "The provider's id (as in its heartbeats)",
            "schema": {"type": "string"}}),
        );
    }
    let count = json!({"type": "integer", "minimum": 0});
    let ratio = json!({"type": ["number", "null"], "minimum": 0});
    json!({
        "paths": {
            "/providers": {"get": {
                "operationId": "listProviders",
                "summary": "The providers addressed by RFQs that closed in the window, \
                    each with its scorecard, by id, a page at a time",
                "parameters": list_parameters,
                "responses": {
                    "200": {"description": "A page; `links.next` while there are more",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ProviderPage"}}}},
                    "400": bad_window(&["Bad Window", "Bad Limit", "Bad Page Token"]),
                    "401": unauthorized(),
                    "403": forbidden("A customer's key: scorecards are read by partners (their \
                        own providers') and operators"),
                    "503": store.clone(),
                },
            }},
            "/providers/{id}/scorecard": {"get": {
                "operationId": "getProviderScorecard",
                "summary": "What a provider did for the RFQs created in the window",
                "parameters": card_parameters,
                "responses": {
                    "200": {"description": "Its scorecard", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Scorecard"}}}},
                    "400": bad_window(&["Bad Window"]),
                    "401": unauthorized(),
                    "403": forbidden("A customer's key: scorecards are read by partners (their \
                        own providers') and operators"),
                    "404": problem("No RFQ addressed to this provider closed in the window, or \
                        (to a partner's key) another partner's provider",
                        &["Provider Not Found"], &[], json!({})),
                    "503": store,
                },
            }},
        },
        "components": {"schemas": {
            "Scorecard": {"type": "object",
                "required": ["links", "provider", "since", "until", "addressed",
                    "answered-in-time", "quoted", "declined", "late", "silent", "duplicates",
                    "wins", "win-rate", "mean-rank", "latency-ms"],
                "properties": {
                    "links": {"type": "object", "required": ["self"],
                        "properties": {"self": {"type": "string"}}},
                    "provider": {"type": "string"},
                    "since": time("The window's start"),
                    "until": time("The window's end (excluded)"),
                    "addressed": count, "answered-in-time": count, "quoted": count,
                    "declined": count, "late": count, "silent": count, "duplicates": count,
                    "wins": count,
                    "win-rate": {"description": "wins / quoted (null without quotes)",
                        "type": ["number", "null"], "minimum": 0, "maximum": 1},
                    "mean-rank": ratio,
                    "latency-ms": {"description": "Answer latency percentiles (null without answers)",
                        "oneOf": [{"type": "null"}, {"type": "object",
                            "required": ["p50", "p90", "p99"], "properties": {
                                "p50": count, "p90": count, "p99": count}}]},
                }},
            "ProviderPage": {"type": "object",
                "required": ["links", "since", "until", "providers"],
                "properties": {
                    "links": {"type": "object", "required": ["self"], "properties": {
                        "self": {"type": "string"}, "next": {"type": "string"}}},
                    "since": time("The window's start"),
                    "until": time("The window's end (excluded)"),
                    "providers": {"type": "array",
                        "items": {"$ref": "#/components/schemas/Scorecard"}},
                }},
        }},
    })
}
