//! HTTP partners behind the adapter, against real local partner servers
//! (`partners/fake.rs`) that inject latency, 5xx, hangs, connection resets,
//! slow bodies, junk and callbacks: RFQs still close on time with the
//! healthy partners' quotes; a hanging partner's breaker opens, costs
//! nothing after, and closes once it recovers; a partner that never answers
//! holds a bounded number of places, tasks and callbacks. The adapter's
//! HTTP side does not depend on the broker: these run on the embedded one.

mod fake;

use crate::helpers::{TestBroker, TestPipeline, adapter, fleet, outcomes, settings};
use fake::{FakePartner, Mode};
use rfq_adapters::AdapterSettings;
use rfq_core::ProviderId;
use std::{collections::BTreeSet, time::Duration};

/// Where the partners' providers wait, and the RFQs start.
const BERLIN: (f64, f64) = (52.52, 13.40);

/// A partner adapter named `name` for these partners, with its settings
/// as `tune` leaves them.
fn partner_adapter(
    name: &str,
    partners: &[(&str, &FakePartner)],
    tune: impl FnOnce(&mut AdapterSettings),
) -> AdapterSettings {
    let mut settings = adapter(name, fleet(BERLIN, 0, 0, 0.0));
    settings.partners.partners = partners
        .iter()
        .map(|(name, partner)| partner.spec(name).parse().unwrap())
        .collect();
    tune(&mut settings);
    settings
}

/// Starts a pipeline with `adapter` and waits until the partners'
/// providers (`PARTNER-ID`) are registered.
async fn start(
    dir: &std::path::Path,
    adapter: AdapterSettings,
    providers: &[String],
) -> TestPipeline {
    let t =
        TestPipeline::start_with(settings(&TestBroker::Embedded, dir, vec![adapter], true)).await;
    let ids: Vec<ProviderId> = providers
        .iter()
        .map(|p| ProviderId::parse(p).unwrap())
        .collect();
    t.pipeline()
        .providers()
        .wait_for(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    t
}

/// `PARTNER-car-1`, `PARTNER-car-2` for each partner.
fn providers_of(partners: &[&str]) -> Vec<String> {
    partners
        .iter()
        .flat_map(|p| [format!("{p}-car-1"), format!("{p}-car-2")])
        .collect()
}

/// `metric{partner, label}` with the labels in the order `/metrics` prints
/// them (by name).
fn series(metric: &str, partner: &str, label: &str, value: &str) -> String {
    let (partner, other) = (
        format!(r#"partner="{partner}""#),
        format!(r#"{label}="{value}""#),
    );
    let mut labels = [partner, other];
    labels.sort();
    format!("{metric}{{{}}}", labels.join(","))
}

fn calls(partner: &str, outcome: &str) -> String {
    format!(r#"rfq_partner_calls_total{{outcome="{outcome}",partner="{partner}"}}"#)
}

fn gauge(metric: &str, partner: &str) -> String {
    format!(r#"{metric}{{partner="{partner}"}}"#)
}

/// Asserts the RFQ closed by its deadline, within a second of it.
fn closed_on_time(result: &serde_json::Value) {
    assert_eq!(result["closed-by"], "deadline", "{result}");
    let at =
        |key: &str| chrono::DateTime::parse_from_rfc3339(result[key].as_str().unwrap()).unwrap();
    let late = at("closed-at") - at("deadline");
    assert!(
        late < chrono::Duration::seconds(1),
        "closed {late} after its deadline"
    );
}

#[tokio::test]
async fn faulty_partners_leave_the_healthy_quotes_in_time() {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cars = ["car-1", "car-2"];
    let modes = [
        ("fa-good", Mode::Healthy(Duration::from_millis(20))),
        ("fa-slow", Mode::Healthy(Duration::from_millis(700))),
        ("fa-later", Mode::Callback(Duration::from_millis(300))),
        ("fa-down", Mode::Unavailable),
        ("fa-hang", Mode::Hang),
        ("fa-reset", Mode::Reset),
        ("fa-trickle", Mode::SlowBody),
        ("fa-junk", Mode::Garbage),
    ];
    let mut partners = Vec::new();
    for (name, mode) in modes {
        partners.push((name, FakePartner::start(mode, &cars, BERLIN).await));
    }
    let refs: Vec<(&str, &FakePartner)> = partners.iter().map(|(n, p)| (*n, p)).collect();
    let names: Vec<&str> = modes.iter().map(|(n, _)| *n).collect();
    let adapter = partner_adapter("faults", &refs, |s| {
        s.partners.timeout_ms = 1500;
        s.partners.breaker_failures = 100;
    });
    let t = start(dir.path(), adapter, &providers_of(&names)).await;

    let (location, _) = t.submit(BERLIN, 3).await;
    let result = t.closed_result(&location, Duration::from_secs(15)).await;
    closed_on_time(&result);
    let (quoted, declined, _) = outcomes(&result);
    let quoted: BTreeSet<String> = quoted.into_iter().collect();
    let healthy: BTreeSet<String> = providers_of(&["fa-good", "fa-slow", "fa-later"])
        .into_iter()
        .collect();
    assert_eq!(quoted, healthy, "{result}");
    assert!(declined.is_empty());

    // Every failure was one, and the safe ones were retried.
    t.assert_metric(&calls("fa-down", "unavailable"), 3.0).await;
    t.assert_metric(&calls("fa-reset", "transport"), 3.0).await;
    t.assert_metric(&calls("fa-hang", "timeout"), 1.0).await;
    t.assert_metric(&calls("fa-trickle", "timeout"), 1.0).await;
    t.assert_metric(&calls("fa-junk", "invalid"), 1.0).await;
    t.assert_metric(&calls("fa-later", "accepted"), 1.0).await;
    // The junk is dead-lettered (kind partner-answer) and counted.
    let refused = series("rfq_partner_answers_total", "fa-junk", "kind", "refused");
    t.assert_metric(&refused, 1.0).await;
    assert_eq!(partners[2].1.callback_statuses(), vec![202]);
    // One RFQ, one idempotency key: its id, on every attempt.
    let rfq_id = location.rsplit('/').next().unwrap();
    for (name, partner) in &partners {
        let keys = partner.keys();
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k == rfq_id),
            "{name}: {keys:?}"
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn a_hanging_partner_opens_its_breaker_and_it_closes_after_recovery() {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cars = ["car-1", "car-2"];
    let good = FakePartner::start(Mode::Healthy(Duration::from_millis(10)), &cars, BERLIN).await;
    let stuck = FakePartner::start(Mode::Hang, &cars, BERLIN).await;
    let adapter = partner_adapter(
        "breaker",
        &[("br-good", &good), ("br-stuck", &stuck)],
        |s| {
            s.partners.timeout_ms = 400;
            s.partners.breaker_failures = 2;
            s.partners.breaker_open_ms = 10_000;
        },
    );
    let t = start(dir.path(), adapter, &providers_of(&["br-good", "br-stuck"])).await;
    let state = gauge("rfq_partner_breaker_state", "br-stuck");

    // Two timeouts in a row open it.
    for _ in 0..2 {
        let (location, _) = t.submit(BERLIN, 2).await;
        let result = t.closed_result(&location, Duration::from_secs(10)).await;
        closed_on_time(&result);
    }
    t.assert_metric(&calls("br-stuck", "timeout"), 2.0).await;
    assert_eq!(t.metric(&state).await, 2.0, "open");
    let opened = series(
        "rfq_partner_breaker_transitions_total",
        "br-stuck",
        "to",
        "open",
    );
    assert_eq!(t.metric(&opened).await, 1.0);

    // Open: the partner is skipped at once and never called.
    let called = stuck.calls();
    let (location, _) = t.submit(BERLIN, 2).await;
    let result = t.closed_result(&location, Duration::from_secs(10)).await;
    closed_on_time(&result);
    let (quoted, _, _) = outcomes(&result);
    assert_eq!(quoted.len(), 2, "the healthy partner's quotes: {result}");
    assert_eq!(stuck.calls(), called, "an open breaker calls nobody");
    let skipped = series(
        "rfq_partner_shed_total",
        "br-stuck",
        "reason",
        "breaker-open",
    );
    assert!(t.metric(&skipped).await >= 1.0);
    assert_eq!(
        t.metric(&gauge("rfq_partner_in_flight", "br-stuck")).await,
        0.0
    );

    // Recovered: after the open period one probe goes out and closes it.
    stuck.set(Mode::Healthy(Duration::from_millis(10)));
    let mut recovered = false;
    for _ in 0..12 {
        let (location, _) = t.submit(BERLIN, 2).await;
        let result = t.closed_result(&location, Duration::from_secs(10)).await;
        let (quoted, _, _) = outcomes(&result);
        if quoted.iter().any(|p| p.starts_with("br-stuck-")) {
            assert_eq!(quoted.len(), 4, "{result}");
            assert_eq!(result["closed-by"], "all-answered");
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the recovered partner's quotes never came back");
    assert_eq!(t.metric(&state).await, 0.0, "closed");
    for to in ["half-open", "closed"] {
        let entered = series(
            "rfq_partner_breaker_transitions_total",
            "br-stuck",
            "to",
            to,
        );
        assert_eq!(t.metric(&entered).await, 1.0, "{to}");
    }
    // The story in the metrics (shown with --nocapture).
    let scrape = t.get("/metrics").await.text().await.unwrap();
    for line in scrape
        .lines()
        .filter(|l| l.contains("\"br-stuck\"") && !l.contains("_bucket"))
    {
        println!("{line}");
    }
    t.stop().await;
}

#[tokio::test]
async fn a_partner_that_never_answers_holds_bounded_places() {
    // Its answers move the counters that other tests count exactly.
    let _counting = crate::helpers::COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cars = ["car-1", "car-2"];
    let void = FakePartner::start(Mode::Hang, &cars, BERLIN).await;
    let adapter = partner_adapter("bounded", &[("bd-void", &void)], |s| {
        s.partners.timeout_ms = 60_000;
        s.partners.breaker_failures = 1_000;
        s.partners.concurrency = 2;
        s.partners.queue = 3;
    });
    let t = start(dir.path(), adapter, &providers_of(&["bd-void"])).await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = tasks();

    const RFQS: usize = 30;
    let submitted = futures::future::join_all((0..RFQS).map(|_| t.submit(BERLIN, 3))).await;
    // While the calls hang: two in flight, three queued, nothing more.
    let queued = gauge("rfq_partner_queue_depth", "bd-void");
    let in_flight = gauge("rfq_partner_in_flight", "bd-void");
    let pending = gauge("rfq_partner_callbacks_pending", "bd-void");
    let shed_full = series("rfq_partner_shed_total", "bd-void", "reason", "queue-full");
    tokio::time::timeout(Duration::from_secs(10), async {
        while t.metric(&shed_full).await < 20.0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let scrape =
            futures::executor::block_on(async { t.get("/metrics").await.text().await.unwrap() });
        let ours: Vec<&str> = scrape
            .lines()
            .filter(|l| l.contains("bd-void") || l.starts_with("rfq_adapter"))
            .collect();
        panic!("the calls beyond the bulkhead and its queue are not shed: {ours:#?}")
    });
    assert!(t.metric(&queued).await <= 3.0);
    assert!(t.metric(&in_flight).await <= 2.0);
    assert!(t.metric(&pending).await <= 5.0);
    let during = tasks();

    for (location, _) in &submitted {
        let result = t.closed_result(location, Duration::from_secs(30)).await;
        closed_on_time(&result);
    }
    assert!(void.most_open() <= 2, "{} calls at once", void.most_open());
    // Every call made or shed: two places and three in the queue at most
    // (a queued call goes out if a place frees before its answers are due).
    let no_time = series("rfq_partner_shed_total", "bd-void", "reason", "no-time");
    assert_eq!(t.metric(&in_flight).await, 0.0);
    let (full, no_time) = (t.metric(&shed_full).await, t.metric(&no_time).await);
    // Cut short by their RFQs' deadline (the partner's own timeout is
    // longer): `due`, not held against the partner.
    let made = t.metric(&calls("bd-void", "due")).await;
    assert_eq!(t.metric(&calls("bd-void", "timeout")).await, 0.0);
    assert!(
        made <= 5.0 && void.calls() as f64 <= made,
        "{made} calls, {} seen",
        void.calls()
    );
    assert_eq!(
        full + no_time + made,
        RFQS as f64,
        "{full} + {no_time} + {made}"
    );
    assert_eq!(t.metric(&pending).await, 0.0);
    assert_eq!(t.metric(&queued).await, 0.0);
    // Tasks: while the calls hang, one per HTTP connection at each end of
    // the test's 30 POSTs (idle in the pool after), and in the adapter one
    // per call in flight or queued only: a shed call's task ends at once.
    let after = tasks();
    assert!(
        during <= before + 2 * RFQS + (2 + 3) + 10,
        "{before} tasks before, {during} during"
    );
    assert!(after <= during, "{during} tasks during, {after} after");
    t.stop().await;
}
