//! A scenario's processes: the cluster deployed, producers and aggregators
//! spawned, and how long an aggregator takes to close RFQs again after a
//! restart (probe RFQs keep it busy meanwhile).

use super::{
    PROBES, SESSION_TIMEOUT_MS,
    cluster::{Cluster, Deployment, counter_sum, free_port, wait_http},
    load::{self, PICKUPS, Tally},
};
use crate::helpers::TestBroker;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(super) struct Scenario {
    pub(super) cluster: Cluster,
    pub(super) client: reqwest::Client,
    pub(super) producer: String,
    pub(super) api: String,
    pub(super) aggregator_metrics: Vec<u16>,
}

fn kafka_option() -> Vec<String> {
    vec![
        "--kafka-option".into(),
        format!("session.timeout.ms={SESSION_TIMEOUT_MS}"),
    ]
}

impl Scenario {
    pub(super) async fn start(
        broker: &TestBroker,
        dir: &std::path::Path,
        max_open: usize,
    ) -> Scenario {
        Scenario::deploy(broker, dir, max_open, Deployment::default(), 1).await
    }

    /// [`Scenario::start`] deployed as `deployment` says, with `aggregators`
    /// aggregators in one group (`aggregator-1`, `aggregator-2`, …).
    pub(super) async fn deploy(
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
    pub(super) async fn spawn_producer(&mut self, name: &str, flags: &[&str]) -> String {
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

    pub(super) fn spawn_aggregator(&mut self, name: &str) {
        let port = free_port();
        let mut args = vec!["aggregator".into(), "--metrics-addr".into()];
        args.push(format!("127.0.0.1:{port}"));
        args.extend(self.cluster.kafka_args());
        args.extend(kafka_option());
        self.cluster.spawn(name, args);
        self.aggregator_metrics.push(port);
    }

    /// Waits until the producer addresses RFQs of both regions to their four unicorns.
    pub(super) async fn wait_for_providers(&self) {
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
    pub(super) fn probe_until(
        &self,
        tally: &Arc<Tally>,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
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
    pub(super) async fn until_due_closed(&self, tally: &Tally, within: Duration) {
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
    pub(super) async fn recovery(&self, port: u16, since: Instant, tally: &Arc<Tally>) -> Duration {
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
    pub(super) async fn until_closing(&self, port: u16, give_up: Instant) {
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
}
