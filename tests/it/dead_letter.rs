//! Records that cannot be decoded go to the dead-letter topic with the
//! reason, and the pipeline goes on.

mod size;
mod undeliverable;

use crate::helpers::*;
use rdkafka::{
    ClientConfig, Message,
    producer::{FutureProducer, FutureRecord},
};
use rfq_core::kafka::DeadLetterHeaders;
use std::time::Duration;

// The dead-letter counter is process-wide and the tests of this binary run
// in parallel: the tests here that count dead letters take turns
// (`COUNTING`).

on_both_brokers!(undecodable_and_unknown_answers_are_dead_lettered_with_a_reason);
async fn undecodable_and_unknown_answers_are_dead_lettered_with_a_reason(broker: TestBroker) {
    let _counting = COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 2, 0, 0.0)).await;
    let brokers = t.brokers();
    let decoded_before = dead_letters(&t, "aggregator", "decode").await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&t.topics.quotes_topic)
                .partition(0)
                .key("garbage")
                .payload("{not avro}"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let consumer = crate::helpers::observer(&brokers, &t.topics.dead_letter_topic);
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a dead letter")
        .unwrap();
    assert_eq!(message.key(), Some(&b"garbage"[..]));
    assert_eq!(
        message.payload(),
        Some(&b"{not avro}"[..]),
        "the original payload, untouched"
    );
    let header = |name: &str| header(&message, name).unwrap_or_default();
    assert!(
        header(DeadLetterHeaders::REASON).contains("magic byte 0x7b, not 0"),
        "{}",
        header(DeadLetterHeaders::REASON)
    );
    assert_eq!(header(DeadLetterHeaders::TOPIC), t.topics.quotes_topic);
    assert_eq!(header(DeadLetterHeaders::COMPONENT), "aggregator");

    // The pipeline still serves RFQs after the bad record.
    let (location, _) = t.submit(BERLIN, 30).await;
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered");
    assert_dead_letters(&t, "aggregator", "decode", decoded_before + 1).await;
    // librdkafka closes a consumer only once its messages are released.
    drop(message);
    rfq_core::kafka::close_consumer(consumer).await;
    t.stop().await;
}

/// The series of `rfq_dead_letters_total{component, kind}`.
fn dead_letter_series(component: &str, kind: &str) -> String {
    format!(r#"rfq_dead_letters_total{{component="{component}",kind="{kind}"}}"#)
}

/// `rfq_dead_letters_total{component, kind}` as `/metrics` serves it now.
async fn dead_letters(t: &TestPipeline, component: &str, kind: &str) -> u64 {
    t.metric(&dead_letter_series(component, kind)).await as u64
}

/// Waits until `rfq_dead_letters_total{component, kind}` reached
/// `expected`, then checks it did not go beyond.
async fn assert_dead_letters(t: &TestPipeline, component: &str, kind: &str, expected: u64) {
    t.assert_metric(&dead_letter_series(component, kind), expected as f64)
        .await;
}

/// Watches the dead-letter topic for the first dead letter of `kind`.
async fn the_dead_letter_of_kind(
    t: &TestPipeline,
    kind: &str,
) -> (
    rdkafka::consumer::StreamConsumer,
    Vec<rdkafka::message::OwnedMessage>,
) {
    let consumer = observer(&t.brokers(), &t.topics.dead_letter_topic);
    let letters = dead_letters_where(&consumer, 1, Duration::from_secs(30), |m| {
        header(m, DeadLetterHeaders::KIND).as_deref() == Some(kind)
    })
    .await;
    (consumer, letters)
}

/// A pipeline on the embedded broker with no adapter, started once this
/// test's turn to count dead letters came (`COUNTING`, held while the
/// guard lives).
async fn counting_pipeline(
    dir: &std::path::Path,
) -> (tokio::sync::MutexGuard<'static, ()>, TestPipeline) {
    let counting = COUNTING.lock().await;
    let t = TestPipeline::start(&TestBroker::Embedded, dir, vec![]).await;
    (counting, t)
}

/// Releases the messages read, closes the dead-letter observer (librdkafka
/// closes a consumer only once its messages are released), then stops the
/// pipeline.
async fn finish<M>(t: TestPipeline, consumer: rdkafka::consumer::StreamConsumer, messages: M) {
    drop(messages);
    rfq_core::kafka::close_consumer(consumer).await;
    t.stop().await;
}

/// Reads the dead-letter topic until `wanted` dead letters satisfying
/// `is_wanted` arrived (others are skipped), or fails after `within`.
async fn dead_letters_where(
    consumer: &rdkafka::consumer::StreamConsumer,
    wanted: usize,
    within: Duration,
    is_wanted: impl Fn(&rdkafka::message::OwnedMessage) -> bool,
) -> Vec<rdkafka::message::OwnedMessage> {
    let give_up = tokio::time::Instant::now() + within;
    let mut found = Vec::new();
    while found.len() < wanted {
        let message = tokio::time::timeout_at(give_up, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {wanted} dead letters arrived within {within:?}",
                    found.len()
                )
            })
            .unwrap()
            .detach();
        if is_wanted(&message) {
            found.push(message);
        }
    }
    found
}

/// An outside producer that may send records up to 2 MB.
fn large_record_producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "2000000")
        .create()
        .unwrap()
}

on_both_brokers!(a_request_without_a_key_is_dead_lettered);
async fn a_request_without_a_key_is_dead_lettered(broker: TestBroker) {
    let _counting = COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    let before = dead_letters(&t, "adapter", "no-key").await;
    let producer = large_record_producer(&t.brokers());
    producer
        .send(
            FutureRecord::<(), [u8]>::to(&t.topics.requests_topic).payload(&b"keyless"[..]),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let (consumer, letters) = the_dead_letter_of_kind(&t, "no-key").await;
    let letter = &letters[0];
    assert_eq!(letter.key(), None);
    assert_eq!(letter.payload(), Some(&b"keyless"[..]));
    assert_eq!(
        header(letter, DeadLetterHeaders::COPY).as_deref(),
        Some("whole")
    );
    assert_eq!(
        header(letter, DeadLetterHeaders::TOPIC),
        Some(t.topics.requests_topic.clone())
    );
    assert_eq!(
        header(letter, DeadLetterHeaders::COMPONENT).as_deref(),
        Some("adapter")
    );
    assert!(
        header(letter, DeadLetterHeaders::REASON)
            .unwrap()
            .contains("no key"),
    );
    assert_dead_letters(&t, "adapter", "no-key", before + 1).await;
    finish(t, consumer, letters).await;
}

on_both_brokers!(an_rfq_copy_outside_its_return_partition_is_dead_lettered);
/// An RFQ's copy in a partition other than its return address's would be
/// held open by an aggregator that never reads its deadline markers.
async fn an_rfq_copy_outside_its_return_partition_is_dead_lettered(broker: TestBroker) {
    use rfq_avro::Record;
    use rfq_core::{CustomerId, GeoPoint, ReturnAddress, Rfq};
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start(&broker, dir.path(), vec![]).await;
    let from = GeoPoint::new(BERLIN.0, BERLIN.1).unwrap();
    let now = chrono::Utc::now();
    let rfq = Rfq {
        customer: CustomerId::parse("astray").unwrap(),
        created_at: now,
        deadline: now + chrono::Duration::seconds(60),
        return_address: ReturnAddress {
            topic: t.topics.quotes_topic.clone(),
            partition: 2,
        },
        ..Rfq::sample(&[]).picked_up_at(from)
    };
    let payload = t
        .codec()
        .encode(&t.topics.quotes_topic, &Record::Rfq(rfq.clone()))
        .await
        .unwrap();
    let key = rfq.id.to_string();
    large_record_producer(&t.brokers())
        .send(
            FutureRecord::to(&t.topics.quotes_topic)
                .partition(1)
                .key(&key)
                .payload(&payload),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let consumer = observer(&t.brokers(), &t.topics.dead_letter_topic);
    let letters = dead_letters_where(&consumer, 1, Duration::from_secs(30), |m| {
        m.key() == Some(key.as_bytes())
    })
    .await;
    let letter = &letters[0];
    assert_eq!(
        header(letter, DeadLetterHeaders::KIND).as_deref(),
        Some("wrong-partition")
    );
    assert_eq!(
        header(letter, DeadLetterHeaders::COMPONENT).as_deref(),
        Some("aggregator")
    );
    assert_eq!(
        header(letter, DeadLetterHeaders::PARTITION).as_deref(),
        Some("1")
    );
    assert_eq!(letter.payload(), Some(payload.as_slice()));
    // Never opened: the store does not know it.
    let store = t.store.open().await.unwrap();
    assert!(store.rfq(&rfq.id).await.unwrap().is_none());
    finish(t, consumer, letters).await;
}

/// The provider registry failing for good (here: its dead letters cannot
/// be written, the dead-letter topic does not exist) ends the producer
/// with the reason, instead of a quiet stop: `stopped` returns the error,
/// and the shutdown token, the caller's, is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_failing_for_good_fails_the_producer_with_the_reason() {
    // The pipeline's own producer dead-letters the record too.
    let dir = tempfile::tempdir().unwrap();
    let (_counting, t) = counting_pipeline(dir.path()).await;
    let mut pipeline = rfq_core::pipeline::PipelineSettings {
        kafka: rfq_core::kafka::KafkaSettings::new(t.brokers()),
        ..Default::default()
    };
    pipeline
        .kafka
        .options
        .push(("message.timeout.ms".into(), "2000".into()));
    pipeline.topics = t.topics.clone();
    pipeline.topics.dead_letter_topic = "no-such-dead-letter-topic".into();
    let providers_topic = pipeline.topics.providers_topic.clone();
    let store = rfq_store::StoreSettings::embedded(dir.path().join("producer.db"))
        .open()
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let producer = rfq_producer::Intake::start(
        pipeline,
        rfq_producer::ProducerSettings::default(),
        store,
        t.codec(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    large_record_producer(&t.brokers())
        .send(
            FutureRecord::to(&providers_topic)
                .key("p")
                .payload(&b"not a heartbeat"[..]),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(60), producer.stopped())
        .await
        .expect("the producer stops")
        .expect_err("with an error");
    let text = format!("{error:#}");
    assert!(text.contains("no-such-dead-letter-topic"), "{text}");
    assert!(!shutdown.is_cancelled(), "the caller decides what stops");
    t.stop().await;
}

/// An adapter run with another `--region-precision` than the producer's
/// would never be addressed, silently: its heartbeat is dead-lettered as
/// `wrong-region`, with both regions and the remedy in the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_cut_at_another_region_precision_is_dead_lettered() {
    use rfq_avro::Record;
    use rfq_core::{
        GeoPoint, ProviderHeartbeat, ProviderId, ProviderStatus, Region, RegionPrecision,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_counting, t) = counting_pipeline(dir.path()).await;
    let before = dead_letters(&t, "producer", "wrong-region").await;
    // It names Berlin's region (as an RFQ there is cut) but stands in
    // Potsdam: registered, it would be addressed by RFQs in Berlin.
    let berlin = Region::of(
        &GeoPoint::new(BERLIN.0, BERLIN.1).unwrap(),
        RegionPrecision::DEFAULT,
    );
    let position = GeoPoint::new(POTSDAM.0, POTSDAM.1).unwrap();
    let heartbeat = ProviderHeartbeat {
        provider: ProviderId::parse("coarse-1").unwrap(),
        adapter: "coarse".into(),
        region: berlin.clone(),
        position,
        status: ProviderStatus::Online,
        at: chrono::Utc::now(),
        valid_for: Duration::from_secs(60),
    };
    let payload = t
        .codec()
        .encode(&t.topics.providers_topic, &Record::Heartbeat(heartbeat))
        .await
        .unwrap();
    large_record_producer(&t.brokers())
        .send(
            FutureRecord::to(&t.topics.providers_topic)
                .key("coarse-1")
                .payload(&payload),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let (consumer, letters) = the_dead_letter_of_kind(&t, "wrong-region").await;
    let reason = header(&letters[0], DeadLetterHeaders::REASON).unwrap();
    assert!(reason.contains("--region-precision 5"), "{reason}");
    assert!(reason.contains(berlin.as_str()), "{reason}");
    assert_eq!(
        header(&letters[0], DeadLetterHeaders::PROVIDER).as_deref(),
        Some("coarse-1"),
        "the partner finds its own dead letters by provider"
    );
    assert_eq!(letters[0].payload(), Some(payload.as_slice()));
    assert_dead_letters(&t, "producer", "wrong-region", before + 1).await;
    // Not registered: an RFQ in the region it names is addressed to nobody.
    let (_, accepted) = t.submit(BERLIN, 5).await;
    assert_eq!(accepted["providers-addressed"], 0);
    finish(t, consumer, letters).await;
}
