//! Starting a pipeline on free ports and talking to it as the customer app does.

use rfq::{Pipeline, UpSettings};
use rfq_adapters::{AdapterSettings, FleetSettings};
use rfq_core::{GeoPoint, kafka::TopicSettings};
use std::{path::Path, time::Duration};

mod customer;
mod partner;

pub use customer::{
    CUSTOMERS, OPERATOR_KEY, PARTNERS, api_key, authorization_for, client, outcomes, partner_key,
};
pub use partner::Partner;

/// Central Berlin, the default demo area.
pub const BERLIN: (f64, f64) = (52.52, 13.40);
/// Potsdam: a region of its own at the default precision.
pub const POTSDAM: (f64, f64) = (52.40, 13.06);
/// Munich: served by nobody in these tests.
pub const MUNICH: (f64, f64) = (48.137, 11.575);

/// A fleet of `per_region` unicorns in the region of `center` only, fast
/// and predictable.
pub fn fleet(
    center: (f64, f64),
    per_region: usize,
    silent: usize,
    decline_rate: f64,
) -> FleetSettings {
    FleetSettings {
        center: GeoPoint::new(center.0, center.1).unwrap(),
        ring: 0,
        per_region,
        silent_per_region: silent,
        latency_min_ms: 20,
        latency_max_ms: 300,
        decline_rate,
        ..FleetSettings::default()
    }
}

/// The ids of the unicorns adapter `name` runs with `fleet` (at the
/// default vicinity): whom a test answers for when they are silent.
pub fn unicorn_names(name: &str, fleet: &FleetSettings) -> Vec<String> {
    rfq_adapters::fleet::Fleet::generate(name, fleet, &rfq_core::Vicinity::DEFAULT)
        .unicorns()
        .iter()
        .map(|u| u.id.as_str().to_owned())
        .collect()
}

/// An adapter named `name` with `fleet`.
pub fn adapter(name: &str, fleet: FleetSettings) -> AdapterSettings {
    AdapterSettings::new(name, fleet)
}

/// A running pipeline and an HTTP client for it.
pub struct TestPipeline {
    /// The pipeline (taken on stop).
    pub pipeline: Option<Pipeline>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Client that does not follow redirects, so 303s are visible.
    pub client: reqwest::Client,
    /// The pipeline's topics (their names differ on a shared Kafka).
    pub topics: TopicSettings,
    /// Its result store, as the read API opens it.
    pub store: rfq_store::StoreSettings,
}

/// Held by the tests that assert counters by exact deltas: the registry is
/// shared by every test of this binary (and both brokers' variants of a
/// test run at once), so those take turns.
pub static COUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The broker a test body runs against. Every pipeline test runs twice,
/// as `…::on_embedded` and `…::on_kafka` (see [`on_both_brokers!`]).
#[derive(Debug, Clone)]
pub enum TestBroker {
    /// The embedded broker, started by the pipeline.
    Embedded,
    /// A real Apache Kafka at these bootstrap servers: `tests/run` starts
    /// one and sets `RFQ_TEST_KAFKA_BROKERS`. Each pipeline gets topics and
    /// consumer groups of its own there.
    Kafka(String),
}

/// Where `tests/run` tells the tests its real Kafka listens.
pub const KAFKA_ENV: &str = "RFQ_TEST_KAFKA_BROKERS";

impl TestBroker {
    /// The real Kafka of this run. Without one the test fails rather than
    /// passing unchecked: `tests/run` starts Kafka (or, where it cannot,
    /// leaves these tests out with `--skip on_kafka` and says SKIPPED).
    pub fn kafka() -> TestBroker {
        match std::env::var(KAFKA_ENV) {
            Ok(brokers) if !brokers.is_empty() => TestBroker::Kafka(brokers),
            _ => panic!(
                "{KAFKA_ENV} is not set: run tests/run (it starts Apache Kafka), \
                 or leave the real-Kafka tests out with `--skip on_kafka`"
            ),
        }
    }
}

/// Runs the pipeline test `async fn $name(broker: TestBroker)` as two
/// tests, `$name::on_embedded` and `$name::on_kafka`: one body, both brokers.
macro_rules! on_both_brokers {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn on_embedded() {
                $crate::helpers::run_pipeline_test(super::$name(
                    $crate::helpers::TestBroker::Embedded,
                ))
            }
            #[test]
            fn on_kafka() {
                $crate::helpers::run_pipeline_test(super::$name(
                    $crate::helpers::TestBroker::kafka(),
                ))
            }
        }
    )+};
}
pub(crate) use on_both_brokers;

/// Runs a pipeline test's body on a runtime of its own (two workers, as
/// `#[tokio::test(flavor = "multi_thread")]` would) and shuts that down
/// within 10 s even when the body failed: a body that panics leaves its
/// pipeline running, and dropping a Kafka consumer whose broker (the
/// embedded one, on this runtime) is already gone can block forever,
/// which would turn one failed test into a hung run with no report.
pub fn run_pipeline_test(body: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(body)));
    runtime.shutdown_timeout(Duration::from_secs(10));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Settings for a pipeline on free ports under `data_dir`, on `broker`:
/// the declared defaults but for these.
pub fn settings(
    broker: &TestBroker,
    data_dir: &Path,
    adapters: Vec<AdapterSettings>,
    in_memory: bool,
) -> UpSettings {
    let mut settings = UpSettings::default();
    settings.broker.kafka_addr = "127.0.0.1:0".parse().unwrap();
    settings.broker.data_dir = data_dir.to_path_buf();
    settings.broker.broker_in_memory = in_memory;
    // Open to every client: the tests' own observers and producers connect
    // by address alone; the tenancy tests secure theirs (`tenancy.rs`).
    settings.broker.kafka_open = true;
    settings.intake.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.adapters = Some(adapters);
    settings.registry.schema_registry_addr = "127.0.0.1:0".parse().unwrap();
    // Tests submit far faster than a person: no per-customer limit but the
    // test of those limits' own.
    let customers = &mut settings.intake.producer.customers;
    customers.customer_rate = 1e6;
    customers.customer_burst = 1_000_000;
    customers.customer_max_open_rfqs = 1_000_000;
    settings.intake.producer.auth.api_keys = CUSTOMERS
        .iter()
        .map(|customer| format!("{customer}:{}", api_key(customer)))
        .chain(
            PARTNERS
                .iter()
                .map(|partner| format!("partner:{partner}:{}", partner_key(partner))),
        )
        .chain([format!("operator:ops:{OPERATOR_KEY}")])
        .collect();
    let topics = &mut settings.intake.pipeline.topics;
    topics.requests_partitions = 4;
    topics.quotes_partitions = 4;
    if let TestBroker::Kafka(brokers) = broker {
        // One Kafka serves every test of the run: names of our own.
        let run = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("t{}", &run[..12]);
        for topic in [
            &mut topics.requests_topic,
            &mut topics.quotes_topic,
            &mut topics.providers_topic,
            &mut topics.dead_letter_topic,
            &mut topics.events_topic,
            &mut topics.progress_topic,
            &mut settings.registry.schemas_topic,
        ] {
            *topic = format!("{prefix}.{topic}");
        }
        let kafka = &mut settings.intake.pipeline.kafka;
        kafka.brokers = Some(brokers.clone());
        kafka.group_prefix = format!("{prefix}.");
    }
    settings
}

impl TestPipeline {
    /// Starts a pipeline with `adapters` on `broker` (the embedded one in memory).
    pub async fn start(
        broker: &TestBroker,
        data_dir: &Path,
        adapters: Vec<AdapterSettings>,
    ) -> TestPipeline {
        Self::start_with(settings(broker, data_dir, adapters, true)).await
    }

    /// Starts a pipeline with one adapter, `alpha`, serving `fleet`.
    pub async fn alpha(broker: &TestBroker, data_dir: &Path, fleet: FleetSettings) -> TestPipeline {
        Self::start(broker, data_dir, vec![adapter("alpha", fleet)]).await
    }

    /// Starts a pipeline with explicit settings.
    pub async fn start_with(settings: UpSettings) -> TestPipeline {
        rfq::init_tracing();
        // tansu's dependencies enable two rustls providers; pick one for reqwest.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let topics = settings.intake.pipeline.topics.clone();
        let store = settings
            .intake
            .store
            .clone()
            .in_data_dir(&settings.broker.data_dir);
        let pipeline = Pipeline::start(settings).await.expect("pipeline starts");
        let base = format!("http://{}", pipeline.http_addr());
        let client = client();
        TestPipeline {
            pipeline: Some(pipeline),
            base,
            client,
            topics,
            store,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        self.pipeline.as_ref().unwrap()
    }

    /// A codec as the pipeline's (Confluent framing, its schema registry).
    pub fn codec(&self) -> rfq_avro::SharedCodec {
        let url = self.pipeline().schema_registry_url();
        codec_as(&url, self.pipeline().registry_operator(), &self.topics)
    }

    /// Its Kafka bootstrap servers.
    pub fn brokers(&self) -> String {
        self.pipeline().brokers().to_owned()
    }

    /// Stops the pipeline and checks it stopped cleanly.
    pub async fn stop(mut self) {
        self.pipeline
            .take()
            .unwrap()
            .stop()
            .await
            .expect("clean shutdown");
    }
}

/// A consumer of `topic` from its beginning, in a group of its own, as an
/// outside application would read it.
pub fn observer(brokers: &str, topic: &str) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer as _;
    let group = format!("observer-{}", uuid::Uuid::new_v4());
    let consumer = rfq_core::kafka::KafkaSettings::new(brokers)
        .consumer(
            "observer",
            &group,
            rdkafka::consumer::DefaultConsumerContext,
        )
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// A Kafka header's value as text.
pub fn header(message: &impl rdkafka::Message, name: &str) -> Option<String> {
    use rdkafka::message::Headers as _;
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The pipeline's codec against the schema registry at `url`.
pub fn codec_for(url: &str, topics: &TopicSettings) -> rfq_avro::SharedCodec {
    codec_as(url, None, topics)
}

/// The pipeline's codec against the schema registry at `url`, as the user
/// and password of `credentials`.
pub fn codec_as(
    url: &str,
    credentials: Option<(&str, &str)>,
    topics: &TopicSettings,
) -> rfq_avro::SharedCodec {
    let mut pipeline = rfq_core::pipeline::PipelineSettings {
        topics: topics.clone(),
        ..Default::default()
    };
    pipeline.registry.registry_url = Some(url.to_owned());
    if let Some((user, password)) = credentials {
        pipeline.registry.registry_user = Some(user.to_owned());
        pipeline.registry.registry_password = Some(password.to_owned());
    }
    rfq_avro::codec(&pipeline).unwrap()
}

/// `rfq partners ARGS` on the store at `store`: its standard output.
pub fn partners(store: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(crate::chaos::cluster::rfq_binary())
        .arg("partners")
        .args(args)
        .arg("--store-path")
        .arg(store)
        .env_remove("RFQ_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "rfq partners {args:?}: {text}{errors}"
    );
    text
}

/// The registry password `rfq partners add|rotate` printed.
pub fn registry_password(printed: &str) -> String {
    printed_secret(printed, "registry password:")
}

/// The Kafka password `rfq partners add|rotate` printed.
pub fn kafka_password(printed: &str) -> String {
    printed_secret(printed, "kafka password:")
}

fn printed_secret(printed: &str, label: &str) -> String {
    let line = printed
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in {printed}"));
    line.rsplit(' ').next().unwrap().to_owned()
}
