//! The faults inflicted on the cluster (a partition leader or the
//! controller killed, a broker frozen, an aggregator killed while a broker
//! is down), each undone and waited out before the next.

use super::{FAILOVER, SESSION_TIMEOUT_MS, Scenario, closes::Follower, load, nodes::node};
use chrono::{DateTime, Utc};
use rfq_core::CorrelationId;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How long a killed broker stays down: past the failover, so its
/// partitions get new leaders and it leaves their in-sync sets.
const BROKER_DOWN: Duration = Duration::from_secs(15);

/// How long a broker stays frozen (the 12 s: past the fencing too).
const FROZEN: Duration = Duration::from_secs(12);

/// A fault, as it happened.
#[derive(Debug)]
pub(super) struct Window {
    pub(super) what: String,
    pub(super) began: DateTime<Utc>,
    /// When it was undone: the node serves again, or is thawed.
    pub(super) undone: DateTime<Utc>,
}

impl Window {
    /// The recovery: the cluster (and the group) can do without the node.
    pub(super) fn recovered(&self) -> DateTime<Utc> {
        self.began + chrono::Duration::from_std(FAILOVER).unwrap()
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Fault {
    LeaderKilled,
    BrokerFrozen,
    ControllerKilled,
    AggregatorKilledWithBrokerDown,
}

impl Scenario {
    /// Waits (at most `within`) until every RFQ of `tally` due by now has
    /// closed: its close notice came, or, for one 10 s past its deadline
    /// without (a notice lost with a killed aggregator, or an aggregator
    /// behind), the API answers `303` (noted in `seen`, with when). Only
    /// those are asked for, a few at a time: polling thousands of open
    /// RFQs would load the store the aggregators are catching up on.
    pub(super) async fn until_closed(
        &self,
        follower: &Follower,
        tally: &load::Tally,
        seen: &mut HashMap<CorrelationId, DateTime<Utc>>,
        within: Duration,
    ) {
        let give_up = Instant::now() + within;
        let now = Utc::now();
        let mut pending: Vec<(CorrelationId, DateTime<Utc>)> = tally
            .due
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, deadline)| *deadline <= now)
            .copied()
            .collect();
        loop {
            pending.retain(|(id, _)| !follower.has(id) && !seen.contains_key(id));
            let Some((example, _)) = pending.first() else {
                return;
            };
            assert!(
                Instant::now() < give_up,
                "{} RFQs due stay open {within:?} later, e.g. {example}",
                pending.len()
            );
            let stale = Utc::now() - chrono::Duration::seconds(10);
            for (id, _) in pending.iter().filter(|(_, d)| *d < stale).take(20) {
                let asked_at = Utc::now();
                let url = format!("{}/rfqs/{id}", self.api);
                if let Ok(response) = self.client.get(url).send().await
                    && response.status() == 303
                {
                    seen.insert(*id, asked_at);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Inflicts `fault` and undoes it; returns its window.
    pub(super) async fn inflict(&mut self, fault: Fault) -> Window {
        let quotes = self.cluster.quotes_topic.clone();
        let leader = |partition: &'static str| {
            let quotes = quotes.clone();
            async move { node(&["kafka_cluster_leader", &quotes, partition]).await }
        };
        let (what, began) = match fault {
            Fault::LeaderKilled | Fault::ControllerKilled => {
                let (victim, role) = match fault {
                    Fault::LeaderKilled => (leader("0").await, "leader of quotes partition 0"),
                    _ => (
                        node(&["kafka_cluster_controller"]).await,
                        "active controller",
                    ),
                };
                node(&["kafka_node_kill", &victim]).await;
                let began = Utc::now();
                tokio::time::sleep(BROKER_DOWN).await;
                node(&["kafka_node_start", &victim]).await;
                (format!("node {victim} ({role}) killed"), began)
            }
            Fault::BrokerFrozen => {
                let victim = leader("1").await;
                node(&["kafka_node_freeze", &victim]).await;
                let began = Utc::now();
                tokio::time::sleep(FROZEN).await;
                node(&["kafka_node_thaw", &victim]).await;
                (
                    format!("node {victim} (leader of quotes partition 1) frozen"),
                    began,
                )
            }
            Fault::AggregatorKilledWithBrokerDown => {
                let victim = leader("2").await;
                node(&["kafka_node_kill", &victim]).await;
                let (began, down) = (Utc::now(), Instant::now());
                tokio::time::sleep(Duration::from_secs(3)).await;
                self.cluster.kill("aggregator-2");
                eprintln!("chaos: aggregator-2 killed while node {victim} is down");
                tokio::time::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 2000)).await;
                self.cluster.restart("aggregator-2");
                tokio::time::sleep(BROKER_DOWN.saturating_sub(down.elapsed())).await;
                node(&["kafka_node_start", &victim]).await;
                (
                    format!(
                        "node {victim} (leader of quotes partition 2) killed, and aggregator-2 \
                         3 s later (restarted after {} s)",
                        SESSION_TIMEOUT_MS / 1000 + 2
                    ),
                    began,
                )
            }
        };
        Window {
            what,
            began,
            undone: Utc::now(),
        }
    }
}
