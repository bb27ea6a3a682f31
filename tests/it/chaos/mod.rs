//! Fault injection against separate `rfq` processes: the aggregator killed
//! with `kill -9` mid-run, an adapter frozen past its session timeout, a
//! second aggregator joining and leaving; then every accepted RFQ must have
//! exactly one closed result equal to what a crash-free run stores (the
//! model recomputed from the quotes topic).
//!
//! Every scenario runs on both brokers (`…::on_embedded`, `…::on_kafka`,
//! the real Kafka that `tests/run` starts). Sizes come from the environment
//! so one harness serves CI and the full suite (`tests/chaos`):
//! `RFQ_CHAOS_RFQS` (default 600), `RFQ_CHAOS_KILLS` (default 1),
//! `RFQ_CHAOS_RATE` (RFQs per second, default 100). Against the embedded
//! broker every aggregator reads every partition (see
//! `rfq_core::kafka::PartitionAssignment`), so a restart resumes at once;
//! against a real Kafka a killed aggregator is restarted only after its
//! session timeout, so the survivors must take over by themselves
//! meanwhile. Besides the results, every scenario measures how long any
//! RFQ stayed open past its deadline, and bounds it.

mod closes;
pub mod cluster;
mod kraft;
mod load;
mod memory;
mod model;
mod pause;

use crate::helpers::TestBroker;
use cluster::{Cluster, Deployment, counter_sum, free_port, wait_http};
use load::{PICKUPS, Tally};
use model::Model;
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One scenario at a time: they start several processes each.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Session timeout of the chaos processes' consumers (shortened from 10 s).
const SESSION_TIMEOUT_MS: u64 = 6000;
/// The `i` of the first probe RFQ (see `Scenario::probe_until`): apart
/// from the load's.
const PROBES: usize = 1_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A scratch directory for a scenario's processes (store, logs), removed
/// after it; kept, and named, with `RFQ_CHAOS_KEEP=1`.
fn scratch() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var("RFQ_CHAOS_KEEP").is_ok_and(|keep| keep == "1") {
        dir.disable_cleanup(true);
        eprintln!(
            "chaos: the processes' logs stay in {}",
            dir.path().display()
        );
    }
    dir
}

/// How long after its deadline an RFQ may still be open, beyond the time
/// no aggregator was running at all: on the embedded broker a (re)started
/// aggregator reads every partition at once; on Kafka a survivor or a
/// newcomer gets a dead member's partitions after its session timeout.
fn recovery_bound(embedded: bool) -> Duration {
    // Measured here: 1.0–4.4 s on the embedded broker; on Kafka 5.9–10.3 s
    // past the last restart (session timeout + rebalance + catching up).
    // The README states the same bound.
    let catch_up = Duration::from_secs(10);
    if embedded {
        catch_up
    } else {
        Duration::from_millis(SESSION_TIMEOUT_MS) + catch_up
    }
}

/// The faults of a scenario.
#[derive(Default)]
struct Faults {
    /// `kill -9` of the aggregator, spread over the run, each followed by a
    /// restart (on Kafka after its session timeout).
    kills: usize,
    /// A crash loop: this many `kill -9`s of the aggregator a few seconds
    /// apart, each followed at once by a restart.
    crash_loop: usize,
    /// A second aggregator runs from the start and is killed for good
    /// half-way: the first must take its partitions over.
    kill_for_good: bool,
    /// Freeze one adapter instance past its session timeout.
    pause_adapter: bool,
    /// A second aggregator joins at 30% and leaves at 60%.
    join_and_leave: bool,
}

/// What a scenario measured.
#[derive(Debug, Default)]
struct Report {
    rfqs: usize,
    overloaded: usize,
    unavailable: usize,
    kills: usize,
    recoveries: Vec<Duration>,
    elapsed: Duration,
    all_closed_after: Duration,
    /// Longest time an RFQ was seen open after its deadline (an upper
    /// bound: the watcher polls RFQs past their deadline every 200 ms; each
    /// request is timed when it is sent).
    max_open_past_deadline: Duration,
    /// Longest time no aggregator process was running.
    longest_outage: Duration,
}

struct Scenario {
    cluster: Cluster,
    client: reqwest::Client,
    producer: String,
    api: String,
    aggregator_metrics: Vec<u16>,
}

fn kafka_option() -> Vec<String> {
    vec![
        "--kafka-option".into(),
        format!("session.timeout.ms={SESSION_TIMEOUT_MS}"),
    ]
}

impl Scenario {
    async fn start(broker: &TestBroker, dir: &std::path::Path, max_open: usize) -> Scenario {
        Scenario::deploy(broker, dir, max_open, Deployment::default(), 1).await
    }

    /// [`Scenario::start`] deployed as `deployment` says, with `aggregators`
    /// aggregators in one group (`aggregator-1`, `aggregator-2`, …).
    async fn deploy(
        broker: &TestBroker,
        dir: &std::path::Path,
        max_open: usize,
        deployment: Deployment,
        aggregators: usize,
    ) -> Scenario {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let external = match broker {
            TestBroker::Embedded => None,
            TestBroker::Kafka(brokers) => Some(brokers.as_str()),
        };
        let producer_args = deployment.producer.clone();
        let mut cluster = Cluster::deploy(dir, external, deployment);
        let (producer_port, api_port) = (free_port(), free_port());
        let mut args = vec!["producer".into(), "--http-addr".into()];
        args.push(format!("127.0.0.1:{producer_port}"));
        args.extend(cluster.kafka_args());
        args.extend(["--max-open-rfqs".into(), max_open.to_string()]);
        args.extend(producer_args);
        cluster.spawn("producer", args);
        let mut args = vec![
            "api".into(),
            "--http-addr".into(),
            format!("127.0.0.1:{api_port}"),
        ];
        args.extend(cluster.kafka_args());
        cluster.spawn("api", args);
        let mut scenario = Scenario {
            cluster,
            client: crate::helpers::client(),
            producer: format!("http://127.0.0.1:{producer_port}"),
            api: format!("http://127.0.0.1:{api_port}"),
            aggregator_metrics: Vec::new(),
        };
        for n in 1..=aggregators {
            scenario.spawn_aggregator(&format!("aggregator-{n}"));
        }
        // Two instances of adapter "alpha" (one consumer group: on Kafka they
        // share its partitions; on the embedded broker both read every
        // partition and the aggregator drops the second answer) and one
        // "beta" in another region.
        for (name, adapter, (lat, lon)) in [
            ("alpha-1", "alpha", PICKUPS[0]),
            ("alpha-2", "alpha", PICKUPS[0]),
            ("beta-1", "beta", PICKUPS[1]),
        ] {
            let mut args = vec!["adapter".into(), "--adapter-name".into(), adapter.into()];
            args.extend(scenario.cluster.kafka_args());
            args.extend(kafka_option());
            for (flag, value) in [
                ("--fleet-center", format!("{lat},{lon}")),
                ("--fleet-ring", "0".into()),
                ("--fleet-per-region", "4".into()),
                ("--fleet-silent-per-region", "1".into()),
                ("--fleet-latency-min-ms", "20".into()),
                ("--fleet-latency-max-ms", "700".into()),
                ("--fleet-decline-rate", "0.2".into()),
            ] {
                args.extend([flag.to_owned(), value]);
            }
            scenario.cluster.spawn(name, args);
        }
        let up = Duration::from_secs(60);
        wait_http(
            &scenario.client,
            &format!("{}/metrics", scenario.producer),
            up,
        )
        .await;
        wait_http(&scenario.client, &format!("{}/metrics", scenario.api), up).await;
        scenario.wait_for_providers().await;
        scenario
    }

    /// Starts one more producer, `name`, with `flags`; its base URL once
    /// it serves.
    async fn spawn_producer(&mut self, name: &str, flags: &[&str]) -> String {
        let port = free_port();
        let mut args = vec!["producer".into(), "--http-addr".into()];
        args.push(format!("127.0.0.1:{port}"));
        args.extend(self.cluster.kafka_args());
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        self.cluster.spawn(name, args);
        let url = format!("http://127.0.0.1:{port}");
        wait_http(
            &self.client,
            &format!("{url}/metrics"),
            Duration::from_secs(60),
        )
        .await;
        url
    }

    fn spawn_aggregator(&mut self, name: &str) {
        let port = free_port();
        let mut args = vec!["aggregator".into(), "--metrics-addr".into()];
        args.push(format!("127.0.0.1:{port}"));
        args.extend(self.cluster.kafka_args());
        args.extend(kafka_option());
        self.cluster.spawn(name, args);
        self.aggregator_metrics.push(port);
    }

    /// Waits until the producer addresses RFQs of both regions to their four unicorns.
    async fn wait_for_providers(&self) {
        let give_up = Instant::now() + Duration::from_secs(60);
        for (i, _) in PICKUPS.iter().enumerate() {
            loop {
                let response = self
                    .client
                    .post(format!("{}/rfqs", self.producer))
                    .json(&load::body(i))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
                let body: serde_json::Value = response.json().await.unwrap();
                if body["providers-addressed"] == 4 {
                    break;
                }
                assert!(Instant::now() < give_up, "providers never registered");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Submits an RFQ every 100 ms, as the load does (counted in `tally`,
    /// watched until closed and checked with the others), until `stop`.
    fn probe_until(&self, tally: &Arc<Tally>, stop: CancellationToken) -> JoinHandle<()> {
        let (client, producer, tally) = (self.client.clone(), self.producer.clone(), tally.clone());
        tokio::spawn(async move {
            for i in PROBES.. {
                // Never cut short: an RFQ posted is an RFQ counted.
                load::submit(&client, &producer, i, &tally).await;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        })
    }

    /// Waits until every RFQ of `tally` whose deadline has passed is
    /// closed (its status answers `303`), for at most `within`.
    async fn until_due_closed(&self, tally: &Tally, within: Duration) {
        use futures::StreamExt as _;
        let give_up = Instant::now() + within;
        let now = chrono::Utc::now();
        let mut due: Vec<rfq_core::CorrelationId> = tally
            .due
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, deadline)| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        while !due.is_empty() {
            assert!(Instant::now() < give_up, "{} RFQs due stay open", due.len());
            let (client, api) = (&self.client, &self.api);
            let open: Vec<Option<rfq_core::CorrelationId>> = futures::stream::iter(due)
                .map(|id| async move {
                    let status = client.get(format!("{api}/rfqs/{id}")).send().await;
                    let closed = status.is_ok_and(|r| r.status() == 303);
                    (!closed).then_some(id)
                })
                .buffer_unordered(16)
                .collect()
                .await;
            due = open.into_iter().flatten().collect();
            if !due.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Time from a restart until the aggregator at `port` closes RFQs again.
    ///
    /// An aggregator closes RFQs only of the partitions it holds: if the
    /// load is over, or has not begun, its first close would never come.
    /// So a probe RFQ is posted every 100 ms meanwhile, each on the
    /// partition of its own correlation id.
    async fn recovery(&self, port: u16, since: Instant, tally: &Arc<Tally>) -> Duration {
        let stop = CancellationToken::new();
        let probes = self.probe_until(tally, stop.clone());
        self.until_closing(port, since + Duration::from_secs(120))
            .await;
        let closing = since.elapsed();
        stop.cancel();
        probes.await.unwrap();
        closing
    }

    /// Waits until the aggregator whose metrics are at `port` has closed
    /// an RFQ, for at most until `give_up`.
    async fn until_closing(&self, port: u16, give_up: Instant) {
        let url = format!("http://127.0.0.1:{port}/metrics");
        loop {
            if let Ok(response) = self.client.get(&url).send().await {
                let scrape = response.text().await.unwrap_or_default();
                if counter_sum(&scrape, "rfq_aggregator_closed_total") > 0.0 {
                    return;
                }
            }
            assert!(
                Instant::now() < give_up,
                "the aggregator at port {port} never closed an RFQ"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs the load with the faults; returns what it measured and the ids accepted.
    async fn run(&mut self, rfqs: usize, faults: Faults) -> (Report, Vec<rfq_core::CorrelationId>) {
        let started = Instant::now();
        let tally = Arc::new(Tally::default());
        if faults.kill_for_good {
            self.spawn_aggregator("aggregator-2");
            let up = self
                .recovery(self.aggregator_metrics[1], started, &tally)
                .await;
            eprintln!("chaos: aggregator-2 closing RFQs {up:?} after start");
        }
        let load_done = tokio_util::sync::CancellationToken::new();
        let watcher = tokio::spawn(watch(
            self.client.clone(),
            self.api.clone(),
            tally.clone(),
            load_done.clone(),
        ));
        let load = tokio::spawn(load::run(
            self.client.clone(),
            self.producer.clone(),
            rfqs,
            (16, env_usize("RFQ_CHAOS_RATE", 100) as f64),
            tally.clone(),
        ));
        let progress = || tally.accepted_count.load(Ordering::Relaxed);
        let at = |fraction: f64| (rfqs as f64 * fraction) as usize;
        let reached = |target: usize| {
            let tally = tally.clone();
            async move {
                while tally.accepted_count.load(Ordering::Relaxed) < target {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let embedded = self.cluster.embedded_broker;
        let mut report = Report::default();
        // Fault plan, in order of progress.
        let mut plan: Vec<(usize, &str)> = Vec::new();
        for k in 0..faults.kills {
            plan.push((at((k + 1) as f64 / (faults.kills + 1) as f64), "kill"));
        }
        if faults.crash_loop > 0 {
            plan.push((at(0.2), "crash-loop"));
        }
        if faults.kill_for_good {
            plan.push((at(0.5), "kill-for-good"));
        }
        if faults.pause_adapter {
            plan.push((at(0.35), "pause"));
        }
        if faults.join_and_leave {
            plan.push((at(0.30), "join"));
            plan.push((at(0.60), "leave"));
        }
        plan.sort();
        let mut paused: Option<tokio::task::JoinHandle<()>> = None;
        for (target, fault) in plan {
            reached(target).await;
            eprintln!("chaos: {fault} at {} accepted", progress());
            match fault {
                "kill" => {
                    self.cluster.assert_running("aggregator-1");
                    self.cluster.kill("aggregator-1");
                    let killed = Instant::now();
                    report.kills += 1;
                    let down = if embedded {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_millis(SESSION_TIMEOUT_MS + 5000)
                    };
                    tokio::time::sleep(down).await;
                    let restarted = Instant::now();
                    self.cluster.restart("aggregator-1");
                    report.longest_outage = report.longest_outage.max(killed.elapsed());
                    let recovery = self
                        .recovery(self.aggregator_metrics[0], restarted, &tally)
                        .await;
                    eprintln!("chaos: aggregator-1 closing again {recovery:?} after restart");
                    report.recoveries.push(recovery);
                }
                "crash-loop" => {
                    let first_kill = Instant::now();
                    let mut restarted = first_kill;
                    for round in 0..faults.crash_loop {
                        if round > 0 {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        self.cluster.assert_running("aggregator-1");
                        self.cluster.kill("aggregator-1");
                        let killed = Instant::now();
                        report.kills += 1;
                        self.cluster.restart("aggregator-1");
                        restarted = Instant::now();
                        // On Kafka the group waits for the dead members'
                        // sessions to expire: the partitions are unowned
                        // from the first kill on.
                        let outage = if embedded {
                            killed.elapsed()
                        } else {
                            first_kill.elapsed()
                        };
                        report.longest_outage = report.longest_outage.max(outage);
                    }
                    let recovery = self
                        .recovery(self.aggregator_metrics[0], restarted, &tally)
                        .await;
                    eprintln!(
                        "chaos: crash loop of {} kills 3 s apart; aggregator-1 closing again {recovery:?} after the last restart",
                        faults.crash_loop
                    );
                    report.recoveries.push(recovery);
                }
                "kill-for-good" => {
                    // A second outage, not one on top of the first: every
                    // RFQ due by now is closed first (the bound of each
                    // outage is checked on its own).
                    let settled = Instant::now();
                    self.until_due_closed(&tally, Duration::from_secs(120))
                        .await;
                    eprintln!("chaos: every RFQ due closed {:?} later", settled.elapsed());
                    self.cluster.assert_running("aggregator-2");
                    self.cluster.kill("aggregator-2");
                    report.kills += 1;
                    eprintln!("chaos: aggregator-2 killed for good; aggregator-1 must take over");
                }
                "pause" => {
                    let pid = self.cluster.pid("alpha-2");
                    self.cluster.pause("alpha-2");
                    paused = Some(tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 3000)).await;
                        let status = std::process::Command::new("kill")
                            .args(["-CONT", &pid.to_string()])
                            .status()
                            .unwrap();
                        assert!(status.success());
                        eprintln!("chaos: alpha-2 resumed");
                    }));
                }
                "join" => {
                    let joined = Instant::now();
                    self.spawn_aggregator("aggregator-2");
                    // It must take a share of the partitions and close RFQs
                    // before it leaves again.
                    let closing = self
                        .recovery(self.aggregator_metrics[1], joined, &tally)
                        .await;
                    eprintln!("chaos: aggregator-2 closing RFQs {closing:?} after joining");
                    report.recoveries.push(closing);
                }
                "leave" => self.cluster.stop("aggregator-2").await,
                _ => unreachable!(),
            }
        }
        load.await.unwrap();
        if let Some(paused) = paused {
            paused.await.unwrap();
        }
        for name in [
            "producer",
            "api",
            "aggregator-1",
            "alpha-1",
            "alpha-2",
            "beta-1",
        ] {
            self.cluster.assert_running(name);
        }
        let accepted = tally.accepted.lock().unwrap().clone();
        report.rfqs = accepted.len();
        report.overloaded = tally.overloaded.load(Ordering::Relaxed);
        report.unavailable = tally.unavailable.load(Ordering::Relaxed);
        report.elapsed = started.elapsed();
        load_done.cancel();
        report.max_open_past_deadline = watcher.await.unwrap();
        report.all_closed_after = started.elapsed();
        let bound = report.longest_outage + recovery_bound(embedded);
        eprintln!(
            "chaos: every RFQ closed; longest open past its deadline {:?} (bound: outage {:?} + recovery {:?})",
            report.max_open_past_deadline,
            report.longest_outage,
            recovery_bound(embedded)
        );
        assert!(
            report.max_open_past_deadline <= bound,
            "an RFQ stayed open {:?} past its deadline (bound {bound:?})",
            report.max_open_past_deadline
        );
        (report, accepted)
    }

    /// Recomputes the expected results from the quotes topic and compares.
    async fn check(&self, report: &Report, accepted: &[rfq_core::CorrelationId]) {
        let model = Model::from_topic(
            &self.cluster.brokers,
            &self.cluster.registry_url,
            &self.cluster.quotes_topic,
        )
        .await;
        let differences = model::compare(&model, accepted, &self.client, &self.api).await;
        eprintln!(
            "chaos report: {report:?}\n  topic: {} records, {} RFQs, {} answers in time, {} late, {} duplicates, {} refused, {} deadline markers\n  compared {} RFQs: lost {}, duplicated {}, wrong close {}, wrong late {}, open {}, missing {}",
            model.records,
            model.rfqs.len(),
            model.accepted,
            model.late,
            model.duplicates,
            model.refused,
            model.ticks,
            differences.rfqs,
            differences.lost,
            differences.duplicated,
            differences.wrong_close,
            differences.wrong_late,
            differences.open,
            differences.missing,
        );
        assert!(
            differences.none(),
            "stored results differ from a crash-free run: {differences:#?}"
        );
        assert!(model.accepted > 0 && model.ticks > 0);
        assert!(differences.rfqs >= accepted.len());
        self.explain_sample(&model).await;
    }

    /// Explains a sample of the RFQs (closed by their deadline and by
    /// their rule, as `rfq explain` does, from the log and the store
    /// after the faults) and checks each agrees with the stored result
    /// and with the model.
    async fn explain_sample(&self, model: &Model) {
        let topics = rfq_core::kafka::TopicSettings {
            quotes_topic: self.cluster.quotes_topic.clone(),
            providers_topic: self.cluster.providers_topic.clone(),
            ..Default::default()
        };
        let store = self.cluster.store_settings().open().await.unwrap();
        let explainer = rfq_explain::Explainer::new(
            rfq_core::kafka::KafkaSettings::new(self.cluster.brokers.clone()),
            topics.clone(),
            crate::helpers::codec_for(&self.cluster.registry_url, &topics),
            store,
        );
        let mut ids: Vec<_> = model.rfqs.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        let by_deadline = |deadline: bool| {
            ids.iter()
                .filter(move |(_, expected)| {
                    expected.closed.is_some_and(|(reason, _)| {
                        (reason == rfq_core::CloseReason::Deadline) == deadline
                    })
                })
                .take(SAMPLE / 2)
        };
        let sample: Vec<_> = by_deadline(true).chain(by_deadline(false)).collect();
        let deadline = by_deadline(true).count();
        assert!(
            deadline > 0 && sample.len() > deadline,
            "{deadline} of {}",
            sample.len()
        );
        let explained_count = sample.len();
        for (id, expected) in sample {
            let explained = explainer.explain(id).await.unwrap().unwrap();
            assert!(
                explained.agrees_with_store,
                "{id}: {:#?}\n{}",
                explained.differences,
                rfq_explain::text::render(&explained)
            );
            let close = explained
                .close
                .as_ref()
                .map(|close| (close.reason, close.at));
            let modelled = expected.closed.map(|(reason, at)| (reason.as_str(), at));
            assert_eq!(close, modelled, "{id}");
        }
        eprintln!(
            "chaos: explained {explained_count} RFQs ({deadline} closed by their deadline), each agreeing with the store and the model"
        );
    }
}

/// RFQs of each scenario explained after its checks.
const SAMPLE: usize = 20;

/// Polls every accepted RFQ once its deadline has passed until it answers
/// 303, as a customer app would; returns the longest time one was seen
/// open past its deadline. Ends once `load_done` and every RFQ closed.
async fn watch(
    client: reqwest::Client,
    api: String,
    tally: Arc<Tally>,
    load_done: tokio_util::sync::CancellationToken,
) -> Duration {
    use futures::StreamExt as _;
    let mut pending: Vec<(rfq_core::CorrelationId, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut seen = 0;
    let mut longest = chrono::Duration::zero();
    let mut give_up: Option<Instant> = None;
    loop {
        let finished = load_done.is_cancelled();
        {
            let due = tally.due.lock().unwrap();
            pending.extend_from_slice(&due[seen..]);
            seen = due.len();
        }
        if finished && pending.is_empty() {
            return longest.to_std().unwrap_or_default();
        }
        if finished {
            let give_up = *give_up.get_or_insert_with(|| Instant::now() + Duration::from_secs(120));
            assert!(
                Instant::now() < give_up,
                "{} RFQs still open, e.g. {}",
                pending.len(),
                pending[0].0
            );
        }
        let now = chrono::Utc::now();
        let (client, api) = (&client, &api);
        let due: Vec<(usize, rfq_core::CorrelationId)> = pending
            .iter()
            .enumerate()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(index, (id, _))| (index, *id))
            .collect();
        let polled: Vec<(usize, bool, chrono::DateTime<chrono::Utc>)> = futures::stream::iter(due)
            .map(|(index, id)| async move {
                // The RFQ was open until (at most) this moment.
                let asked_at = chrono::Utc::now();
                let status = client
                    .get(format!("{api}/rfqs/{id}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (index, status == 303, asked_at)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut closed: Vec<(usize, chrono::DateTime<chrono::Utc>)> = polled
            .into_iter()
            .filter_map(|(index, closed, asked_at)| closed.then_some((index, asked_at)))
            .collect();
        closed.sort_unstable_by_key(|&(index, _)| std::cmp::Reverse(index));
        for (index, asked_at) in closed {
            let (_, deadline) = pending.swap_remove(index);
            longest = longest.max(asked_at - deadline);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

crate::helpers::on_both_brokers!(
    crash_equivalence_under_kills_and_a_frozen_adapter,
    a_second_aggregator_joins_and_leaves_mid_run,
    a_crash_loop_and_an_aggregator_killed_for_good_lose_nothing,
);

async fn crash_equivalence_under_kills_and_a_frozen_adapter(broker: TestBroker) {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rfqs = env_usize("RFQ_CHAOS_RFQS", 600);
    let kills = env_usize("RFQ_CHAOS_KILLS", 1);
    let mut scenario = Scenario::start(&broker, dir.path(), rfqs.max(1000)).await;
    let (report, accepted) = scenario
        .run(
            rfqs,
            Faults {
                kills,
                pause_adapter: true,
                ..Faults::default()
            },
        )
        .await;
    assert_eq!(report.kills, kills);
    scenario.check(&report, &accepted).await;
}

async fn a_second_aggregator_joins_and_leaves_mid_run(broker: TestBroker) {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rfqs = env_usize("RFQ_CHAOS_RFQS", 600);
    let mut scenario = Scenario::start(&broker, dir.path(), rfqs.max(1000)).await;
    let (report, accepted) = scenario
        .run(
            rfqs,
            Faults {
                join_and_leave: true,
                ..Faults::default()
            },
        )
        .await;
    scenario.check(&report, &accepted).await;
}

/// Three `kill -9`s of an aggregator 3 s apart, each restarted at once (a
/// supervisor in a crash loop), then the other aggregator killed and never
/// restarted: the survivor must close everything, on time.
async fn a_crash_loop_and_an_aggregator_killed_for_good_lose_nothing(broker: TestBroker) {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rfqs = env_usize("RFQ_CHAOS_RFQS", 600);
    let kills = env_usize("RFQ_CHAOS_KILLS", 3).max(3);
    let mut scenario = Scenario::start(&broker, dir.path(), rfqs.max(1000)).await;
    let (report, accepted) = scenario
        .run(
            rfqs,
            Faults {
                crash_loop: kills,
                kill_for_good: true,
                ..Faults::default()
            },
        )
        .await;
    assert_eq!(report.kills, kills + 1);
    scenario.check(&report, &accepted).await;
}
