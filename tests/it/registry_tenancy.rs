//! The schema registry `rfq up` serves, with tenants: partners made by the
//! real `rfq partners` command in the pipeline's store, then the registry
//! driven over HTTP as the operator, as partners and as nobody.
//!
//! - no or wrong credentials: 401 with `WWW-Authenticate: Basic`;
//! - a partner registering under another's subject: 403, and that subject
//!   unchanged; lists show a partner its own subjects only;
//! - levels are the operator's: a partner's `PUT /config` is 403;
//! - a partner's subject is FORWARD_TRANSITIVE: an optional field added is
//!   taken, QuoteResponse without `Quote.pickup_eta_seconds` (which our
//!   reader needs, with no default) is refused with 409;
//! - `rfq partners rotate`: the new password works, the old one no longer;
//!   `remove` lists the partner as removed and prints Kafka's removals.

use crate::helpers::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const QUOTE_RESPONSE: &str = include_str!("../../avro/schemas/quote_response.avsc");
const OPERATOR_PASSWORD: &str = "operator-password-for-tests";
const ACME: &str = "rfq.door.acme.answers-value";
const BOLT: &str = "rfq.door.bolt.answers-value";

/// QuoteResponse with an optional field added (v2), or with `Quote`'s
/// `pickup_eta_seconds` dropped (v3).
fn evolved(with_note: bool, without_eta: bool) -> String {
    let mut schema: Value = serde_json::from_str(QUOTE_RESPONSE).unwrap();
    let fields = schema["fields"].as_array_mut().unwrap();
    if with_note {
        fields.push(json!({"name": "note", "type": ["null", "string"], "default": null}));
    }
    if without_eta {
        let outcome = fields.iter_mut().find(|f| f["name"] == "outcome").unwrap();
        for branch in outcome["type"].as_array_mut().unwrap() {
            if branch["name"] == "Quote" {
                let quote = branch["fields"].as_array_mut().unwrap();
                quote.retain(|f| f["name"] != "pickup_eta_seconds");
            }
        }
    }
    schema.to_string()
}

/// One call: the status and the JSON body.
async fn call(
    client: &Client,
    method: reqwest::Method,
    url: String,
    who: Option<(&str, &str)>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = client.request(method, &url);
    if let Some((user, password)) = who {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

#[test]
fn partners_keep_to_their_door_of_the_registry() {
    run_pipeline_test(async {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("results.db");
        let acme_added = partners(&store, &["add", "acme"]);
        assert!(
            acme_added.contains("rfq.door.acme.answers-value"),
            "{acme_added}"
        );
        assert!(acme_added.contains("kafka-acls.sh"), "{acme_added}");
        let mut acme_password = registry_password(&acme_added);
        let bolt_password = registry_password(&partners(&store, &["add", "bolt"]));
        let listed = partners(&store, &["list"]);
        assert!(
            listed.contains("acme") && listed.contains("bolt"),
            "{listed}"
        );

        let adapters = vec![adapter("alpha", fleet(BERLIN, 1, 1, 0.0))];
        let mut settings = settings(&TestBroker::Embedded, dir.path(), adapters, true);
        settings.registry.operator_password = Some(OPERATOR_PASSWORD.to_owned());
        let t = TestPipeline::start_with(settings).await;
        let base = t.pipeline().schema_registry_url();
        let client = Client::new();
        let operator = Some((rfq_registry::OPERATOR, OPERATOR_PASSWORD));
        let url = |path: &str| format!("{base}{path}");
        let register = |subject: &str| url(&format!("/subjects/{subject}/versions"));
        let v1 = json!({"schema": QUOTE_RESPONSE});
        use reqwest::Method as M;

        // Nobody, or a wrong password: 401 with a Basic challenge.
        for who in [
            None,
            Some(("acme", "not-the-password-at-all")),
            Some(("rfq-operator", "x")),
        ] {
            let (status, body, challenge) =
                call(&client, M::GET, url("/subjects"), who, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{who:?}: {body}");
            assert_eq!(body["error_code"], 40101);
            assert!(challenge.unwrap().starts_with("Basic "));
        }
        // bolt registers under its door; acme may not, nor read it.
        let bolt = Some(("bolt", bolt_password.as_str()));
        let acme_who = |password: &str| Some(("acme", password.to_owned()));
        let (status, _, _) = call(&client, M::POST, register(BOLT), bolt, Some(v1.clone())).await;
        assert_eq!(status, StatusCode::OK);
        let acme = acme_who(&acme_password);
        let acme = acme.as_ref().map(|(u, p)| (*u, p.as_str()));
        let (status, body, _) =
            call(&client, M::POST, register(BOLT), acme, Some(v1.clone())).await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (StatusCode::FORBIDDEN, json!(40301))
        );
        let versions = url(&format!("/subjects/{BOLT}/versions"));
        let (status, _, _) = call(&client, M::GET, versions.clone(), acme, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Levels are the operator's.
        let level = json!({"compatibility": "BACKWARD"});
        for path in ["/config".to_owned(), format!("/config/{ACME}")] {
            let (status, _, _) = call(&client, M::PUT, url(&path), acme, Some(level.clone())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        let (status, _, _) = call(&client, M::PUT, url("/config"), operator, Some(level)).await;
        assert_eq!(status, StatusCode::OK);
        // acme's own subject: FORWARD_TRANSITIVE.
        let (status, _, _) = call(&client, M::POST, register(ACME), acme, Some(v1.clone())).await;
        assert_eq!(status, StatusCode::OK);
        let fallback = url(&format!("/config/{ACME}?defaultToGlobal=true"));
        let (_, body, _) = call(&client, M::GET, fallback, acme, None).await;
        assert_eq!(body["compatibilityLevel"], "FORWARD_TRANSITIVE");
        let v2 = json!({"schema": evolved(true, false)});
        let (status, body, _) = call(&client, M::POST, register(ACME), acme, Some(v2)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v3 = json!({"schema": evolved(true, true)});
        let (status, body, _) = call(&client, M::POST, register(ACME), acme, Some(v3)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (_, body, _) = call(&client, M::GET, versions, operator, None).await;
        assert_eq!(body, json!([1]), "bolt's subject is unchanged");
        // Lists: a partner sees its own subjects only.
        let (_, body, _) = call(&client, M::GET, url("/subjects"), acme, None).await;
        assert_eq!(body, json!([ACME]));
        let (_, body, _) = call(&client, M::GET, url("/subjects"), operator, None).await;
        let all = body.as_array().unwrap();
        assert!(
            all.contains(&json!(ACME)) && all.contains(&json!(BOLT)),
            "{body}"
        );

        // Rotated: the new password works (read again at once), the old no longer.
        let old = acme_password.clone();
        acme_password = registry_password(&partners(&store, &["rotate", "acme"]));
        tokio::time::sleep(rfq_core::auth::partners::RECHECK_AFTER).await;
        let new = Some(("acme", acme_password.as_str()));
        let (status, _, _) = call(&client, M::GET, url("/subjects"), new, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(
            &client,
            M::GET,
            url("/subjects"),
            Some(("acme", &old)),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Removed: listed so, with Kafka's removals printed.
        let removed = partners(&store, &["remove", "bolt"]);
        assert!(removed.contains("--remove --force"), "{removed}");
        assert!(partners(&store, &["list"]).contains("removed"));
        t.stop().await;
    });
}
