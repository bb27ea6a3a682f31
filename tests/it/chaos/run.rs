//! A scenario run: the load with its faults (kills, a crash loop, a frozen
//! adapter, an aggregator joining and leaving), watched as a customer app
//! would watch it.

use super::{
    Faults, Report, SESSION_TIMEOUT_MS, Scenario, env_usize,
    load::{self, Tally},
    recovery_bound,
};
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

impl Scenario {
    /// Runs the load with the faults; returns what it measured and the ids accepted.
    pub(super) async fn run(
        &mut self,
        rfqs: usize,
        faults: Faults,
    ) -> (Report, Vec<rfq_core::CorrelationId>) {
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
}

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
