//! Who reads what, through the router on a real (embedded) store: an RFQ
//! addressed to `acme-1` and `bolt-1`, read by its customer, another
//! customer, partner `acme` (its providers are addressed), partner `cab`
//! (none are) and an operator.

use super::*;
use crate::{
    ApiSettings,
    tests::{
        ACME_KEY, ALICE_KEY, BOB_KEY, CAB_KEY, OPS_KEY, closed_at_deadline, get_as, quote, reply,
    },
};
use axum::http::StatusCode;
use chrono::Utc;
use rfq_core::{Effect, Reply, Rfq};
use rfq_store::{Store, StoreSettings};
use std::sync::Arc;

/// A store holding a closed RFQ of alice's: acme-1 quoted 15.00, bolt-1
/// quoted 9.00, acme-2 declined, bolt-2 silent.
async fn closed_rfq() -> (tempfile::TempDir, Arc<dyn Store>, Rfq) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSettings::embedded(dir.path().join("results.db"))
        .open()
        .await
        .unwrap();
    let rfq = Rfq::sample(&["acme-1", "acme-2", "bolt-1", "bolt-2"]);
    let now = Utc::now();
    let declined = Reply::Declined {
        reason: "busy".into(),
    };
    store
        .apply(&[
            Effect::Open(rfq.clone()),
            Effect::Answer(JudgedAnswer::in_time(
                reply(&rfq, "acme-1", quote(1500)),
                now,
                1,
            )),
            Effect::Answer(JudgedAnswer::in_time(
                reply(&rfq, "bolt-1", quote(900)),
                now,
                2,
            )),
            Effect::Answer(JudgedAnswer::in_time(
                reply(&rfq, "acme-2", declined),
                now,
                3,
            )),
            closed_at_deadline(&rfq),
        ])
        .await
        .unwrap();
    (dir, store, rfq)
}

fn providers(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["provider"].as_str().or(a.as_str()).unwrap())
        .collect()
}

#[test]
fn a_partner_view_narrows_to_its_own_providers() {
    let rfq = Rfq::sample(&["acme-1", "bolt-1"]);
    let stored = StoredRfq {
        rfq: rfq.clone(),
        status: rfq_store::RfqStatus::Open,
        responses_received: 2,
    };
    let now = Utc::now();
    let answers = vec![
        JudgedAnswer::in_time(reply(&rfq, "acme-1", quote(1500)), now, 1),
        JudgedAnswer::in_time(reply(&rfq, "bolt-1", quote(900)), now, 2),
    ];
    let acme = Principal::parse("partner:acme").unwrap();
    let view = View::of(&acme, &stored).unwrap();
    assert!(!view.is_whole());
    let (narrowed, kept) = view.narrow(stored.clone(), answers.clone());
    let addressed: Vec<&str> = narrowed.rfq.addressed.iter().map(|p| p.as_str()).collect();
    assert_eq!(addressed, ["acme-1"]);
    assert_eq!(kept, answers[..1]);
    assert_eq!(narrowed.responses_received, 1);
    let shown = view.document(serde_json::json!({"customer": "alice", "id": "x"}));
    assert_eq!(shown, serde_json::json!({"id": "x"}));
    // Not addressed to cab; alice's whole; bob's not; an operator's whole.
    let cab = Principal::parse("partner:cab").unwrap();
    assert_eq!(View::of(&cab, &stored), None);
    let alice = Principal::parse("alice").unwrap();
    assert_eq!(View::of(&alice, &stored), Some(View::Whole));
    assert_eq!(View::of(&Principal::parse("bob").unwrap(), &stored), None);
    let ops = Principal::parse("operator:ops").unwrap();
    let whole = View::of(&ops, &stored).unwrap();
    assert_eq!(whole.narrow(stored.clone(), answers.clone()).1, answers);
}

#[tokio::test]
async fn each_role_reads_what_it_may_of_an_rfq() {
    let (_dir, store, rfq) = closed_rfq().await;
    let result = format!("/rfqs/{}/result", rfq.id);
    let read = |key: &'static str| {
        let (store, result) = (store.clone(), result.clone());
        async move { get_as(&store, ApiSettings::default(), &result, Some(key)).await }
    };

    // The customer and an operator: the whole result.
    for key in [ALICE_KEY, OPS_KEY] {
        let (status, _, body) = read(key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["customer"], "alice");
        assert_eq!(providers(&body["quotes"]), ["bolt-1", "acme-1"]);
        assert_eq!(providers(&body["unanswered"]), ["bolt-2"]);
        assert_eq!(body["providers-addressed"], 4);
    }

    // acme: its own providers only, no customer, no competitor's price.
    let (status, _, body) = read(ACME_KEY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("customer").is_none(), "{body}");
    assert_eq!(providers(&body["quotes"]), ["acme-1"]);
    assert_eq!(providers(&body["declines"]), ["acme-2"]);
    assert_eq!(providers(&body["unanswered"]), Vec::<&str>::new());
    assert_eq!(body["providers-addressed"], 2);
    assert!(!body.to_string().contains("bolt"), "{body}");
    assert!(!body.to_string().contains("9.00"), "{body}");
    // Its status (the 303's body) counts its own answers.
    let status_path = format!("/rfqs/{}", rfq.id);
    let (status, _, body) =
        get_as(&store, ApiSettings::default(), &status_path, Some(ACME_KEY)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(body["responses-received"], 2);

    // Another customer and a partner none of whose providers was
    // addressed: not found, as an unknown RFQ.
    for key in [BOB_KEY, CAB_KEY] {
        let (status, headers, body) = read(key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["title"], "RFQ Not Found");
    }
}
