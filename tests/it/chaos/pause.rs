//! An aggregator frozen (`SIGSTOP`) for 30 s under 50 RFQs a second, then
//! resumed (`SIGCONT`), as a long GC pause, a VM migration or a debugger
//! would: every RFQ whose deadline passed while it was frozen (an
//! *overdue* one) must close within 2 s of the resume (issue #24), with
//! the answers its partition holds before its deadline marker (the model,
//! recomputed from the quotes topic), none lost, none twice.
//!
//! When each RFQ closed is read from the change notices (`closes`), so
//! nothing polls the API while the aggregator catches up.
//!
//! On Kafka the freeze outlives the consumer's session (6 s, as in every
//! scenario here; the default is 10 s): the group coordinator evicts the
//! aggregator, and on resume it finds itself out of the group, gives its
//! partitions up, joins again and recovers their open RFQs from the store
//! before it reads on. The 2 s include that: it is what such a freeze costs
//! a deployment, whose session timeout is shorter than 30 s (a session
//! longer than the freeze would keep the partitions and test the embedded
//! case again). The report splits the time into the rejoin (resume to
//! "partitions assigned" in the aggregator's log) and the catch-up after it.
//!
//! The producer the load goes to accepts RFQs however far behind the
//! aggregator is (`--max-aggregator-lag-ms` of an hour), so the whole 30 s
//! of load waits for the catch-up. A second producer, as deployed by
//! default (5 s), is asked too: before the freeze it accepts with an ETA
//! of the deadline; once the frozen aggregator's progress reports have
//! gone stale it refuses (`503 Aggregator Behind`, the lag given), rather
//! than accept an RFQ whose result could not come by its ETA.
//!
//! Sizes: `RFQ_PAUSE_SECONDS` (30), `RFQ_PAUSE_RATE` (RFQs per second, 50),
//! `RFQ_PAUSE_BOUND_MS` (2000).

use super::{
    Report, SERIAL, Scenario,
    closes::{self, millis},
    env_usize,
    load::{self, Tally},
};
use crate::helpers::TestBroker;
use chrono::{DateTime, Utc};
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

/// Load before the freeze, and after the resume.
const BEFORE: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(10);

crate::helpers::on_both_brokers!(
    an_aggregator_frozen_30_s_closes_every_overdue_rfq_within_2_s_of_resuming
);

async fn an_aggregator_frozen_30_s_closes_every_overdue_rfq_within_2_s_of_resuming(
    broker: TestBroker,
) {
    let _serial = SERIAL.lock().await;
    let dir = super::scratch();
    let frozen = Duration::from_secs(env_usize("RFQ_PAUSE_SECONDS", 30) as u64);
    let rate = env_usize("RFQ_PAUSE_RATE", 50) as f64;
    let bound = Duration::from_millis(env_usize("RFQ_PAUSE_BOUND_MS", 2000) as u64);
    let rfqs = (rate * (BEFORE + frozen + AFTER).as_secs_f64()) as usize;
    let deployment = super::cluster::Deployment {
        producer: vec!["--max-aggregator-lag-ms".into(), "3600000".into()],
        ..Default::default()
    };
    let mut scenario = Scenario::deploy(&broker, dir.path(), rfqs.max(1000), deployment, 1).await;
    let strict = scenario.spawn_producer("producer-strict", &[]).await;
    let started = Instant::now();
    let tally = Arc::new(Tally::default());
    let load = tokio::spawn(load::run(
        scenario.client.clone(),
        scenario.producer.clone(),
        rfqs,
        (16, rate),
        tally.clone(),
    ));
    // Frozen once it closes RFQs, so a slow start is not counted as catch-up.
    let give_up = started + Duration::from_secs(60);
    scenario
        .until_closing(scenario.aggregator_metrics[0], give_up)
        .await;
    tokio::time::sleep(BEFORE.saturating_sub(started.elapsed())).await;
    let (status, accepted) = ask(&scenario.client, &strict).await;
    assert_eq!(status, 202, "{accepted}");
    let eta = eta_past_deadline(&accepted);
    assert!(
        eta < 1000,
        "eta {eta} ms past the deadline while keeping up: {accepted}"
    );
    let paused_at = Utc::now();
    scenario.cluster.pause("aggregator-1");
    eprintln!(
        "chaos: aggregator-1 frozen at {} accepted",
        tally.accepted_count.load(Ordering::Relaxed)
    );
    // Reports stale (2 s) and past the limit (5 s), with a margin.
    let refusing = Duration::from_secs(10).min(frozen);
    tokio::time::sleep(refusing).await;
    let (status, refused) = ask(&scenario.client, &strict).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["title"], "Aggregator Behind", "{refused}");
    assert!(refused["lag-ms"].as_i64().unwrap_or(0) > 5000, "{refused}");
    tokio::time::sleep(frozen.saturating_sub(refusing)).await;
    scenario.cluster.resume("aggregator-1");
    let resumed_at = Utc::now();
    load.await.unwrap();
    // Every RFQ closes (its status answers 303) once its deadline passed.
    let last_deadline = tally.due.lock().unwrap().iter().map(|(_, d)| *d).max();
    if let Some(wait) = last_deadline.and_then(|d| (d - Utc::now()).to_std().ok()) {
        tokio::time::sleep(wait).await;
    }
    scenario
        .until_due_closed(&tally, Duration::from_secs(120))
        .await;
    for name in ["producer", "api", "aggregator-1"] {
        scenario.cluster.assert_running(name);
    }

    let closed = closes::read(&scenario.cluster.brokers, &scenario.cluster.events_topic).await;
    let due = tally.due.lock().unwrap().clone();
    // Overdue at the resume: due by then and not closed before the freeze.
    let overdue: Vec<_> = due
        .iter()
        .filter(|(id, deadline)| {
            *deadline <= resumed_at
                && (*deadline > paused_at || closed.get(id).is_some_and(|at| *at >= paused_at))
        })
        .map(|(id, _)| (*id, closed.get(id).copied()))
        .collect();
    let missing: Vec<_> = overdue.iter().filter(|(_, at)| at.is_none()).collect();
    let last = overdue.iter().filter_map(|(_, at)| *at).max();
    let first_after: Option<DateTime<Utc>> = closed
        .values()
        .filter(|at| **at >= resumed_at)
        .min()
        .copied();
    // On Kafka: what the group did to the aggregator around the freeze.
    let rebalances: Vec<_> = scenario
        .cluster
        .logged("aggregator-1", "partitions")
        .into_iter()
        .filter(|(at, _)| *at >= paused_at)
        .collect();
    for (at, line) in &rebalances {
        eprintln!(
            "chaos:   {:+} ms after the resume: {line}",
            millis(resumed_at, *at)
        );
    }
    let rejoined = rebalances
        .iter()
        .find(|(at, line)| *at >= resumed_at && line.contains("partitions assigned"))
        .map(|(at, _)| *at);
    let catch_up = last.map(|at| millis(resumed_at, at));
    eprintln!(
        "chaos: frozen {frozen:?}; {} RFQs overdue at the resume ({} without a close notice); \
         resume → rejoined the group: {}; → first close: {}; → last overdue closed: {} \
         (bound {bound:?})",
        overdue.len(),
        missing.len(),
        rejoined.map_or("no rejoin (no group)".into(), |at| format!(
            "{} ms",
            millis(resumed_at, at)
        )),
        first_after.map_or("none".into(), |at| format!("{} ms", millis(resumed_at, at))),
        catch_up.map_or("none".into(), |ms| format!("{ms} ms")),
    );
    let accepted = tally.accepted.lock().unwrap().clone();
    let longest = due
        .iter()
        .filter_map(|(id, deadline)| Some(*closed.get(id)? - *deadline))
        .max()
        .and_then(|late| late.to_std().ok())
        .unwrap_or_default();
    let report = Report {
        rfqs: accepted.len(),
        overloaded: tally.overloaded.load(Ordering::Relaxed),
        unavailable: tally.unavailable.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        max_open_past_deadline: longest,
        longest_outage: frozen,
        ..Report::default()
    };
    scenario.check(&report, &accepted).await;
    assert!(
        !overdue.is_empty(),
        "no RFQ fell due while the aggregator was frozen"
    );
    assert!(
        missing.is_empty(),
        "{} overdue RFQs have no close notice, e.g. {}",
        missing.len(),
        missing[0].0
    );
    let slowest = Duration::from_millis(catch_up.unwrap_or_default().max(0) as u64);
    assert!(
        slowest <= bound,
        "the last of {} overdue RFQs closed {slowest:?} after the resume (bound {bound:?})",
        overdue.len()
    );
}

/// Posts one RFQ to the producer at `producer`: its status and body.
async fn ask(client: &reqwest::Client, producer: &str) -> (u16, serde_json::Value) {
    let response = client
        .post(format!("{producer}/rfqs"))
        .json(&load::body(3))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// How far past its deadline (now plus the `deadline-seconds` asked) the
/// ETA of a `202` is, in milliseconds.
fn eta_past_deadline(accepted: &serde_json::Value) -> i64 {
    let asked = load::body(3)["deadline-seconds"].as_i64().unwrap_or(0);
    let eta = accepted["eta"].as_str().unwrap_or_default();
    let eta = DateTime::parse_from_rfc3339(eta)
        .unwrap()
        .with_timezone(&Utc);
    (eta - (Utc::now() + chrono::Duration::seconds(asked))).num_milliseconds()
}
