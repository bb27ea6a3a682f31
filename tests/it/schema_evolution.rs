//! Schema evolution across an upgrade: answers written while the pipeline
//! is down, one with the subject's v1 schema and one with a partner's v2
//! (registered in between, the subject's latest from then on), are read by
//! the pipeline started again, and both count.
//!
//! The broker and the registry outlive the pipeline here, as a
//! deployment's do (`rfq up` would take its own down with it).

use crate::helpers::*;
use apache_avro::types::Value;
use rdkafka::{
    Message as _,
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::Record;
use rfq_core::{Answer, Currency, Price, ProviderId, Reply, Rfq};
use schema_registry_converter::{
    async_impl::{avro::AvroEncoder, schema_registry::SrSettings},
    schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema},
};
use std::time::Duration;

/// Serves a schema registry kept on the pipeline's Kafka; its URL.
async fn serve_registry(settings: &rfq::UpSettings) -> String {
    let kafka = &settings.intake.pipeline.kafka;
    let log = rfq_registry::KafkaLog::open(kafka, &settings.registry.schemas_topic, 1)
        .await
        .unwrap();
    let registry = rfq_registry::Registry::open(Box::new(log)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, rfq_registry::router(registry)).await });
    url
}

/// The RFQ `id` as the requests topic carries it to partners.
async fn broadcast(brokers: &str, topic: &str, codec: &rfq_avro::SharedCodec, id: &str) -> Rfq {
    let consumer = observer(brokers, topic);
    let rfq = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let message = consumer.recv().await.unwrap();
            let payload = message.payload().unwrap_or_default();
            if let Ok(Record::Rfq(rfq)) = codec.decode(topic, payload).await
                && rfq.id.to_string() == id
            {
                return rfq;
            }
        }
    })
    .await
    .expect("the RFQ on the requests topic");
    rfq_core::kafka::close_consumer(consumer).await;
    rfq
}

/// QuoteResponse v2: ours with an optional `note`.
fn v2_schema() -> String {
    let mut v2: serde_json::Value =
        serde_json::from_str(rfq_avro::RecordType::QuoteResponse.schema_text()).unwrap();
    v2["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "note", "type": ["null", "string"], "default": null}));
    v2.to_string()
}

on_both_brokers!(answers_written_before_an_upgrade_count_whatever_their_schema_version);
async fn answers_written_before_an_upgrade_count_whatever_their_schema_version(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let embedded = match &broker {
        TestBroker::Embedded => Some(
            rfq::EmbeddedBrokerSettings {
                kafka_addr: "127.0.0.1:0".parse().unwrap(),
                data_dir: dir.path().join("broker"),
                broker_in_memory: true,
                kafka_open: true,
            }
            .start()
            .await
            .unwrap(),
        ),
        TestBroker::Kafka(_) => None,
    };
    let brokers = match (&embedded, &broker) {
        (Some(embedded), _) => embedded.addr().to_string(),
        (None, TestBroker::Kafka(brokers)) => brokers.clone(),
        (None, TestBroker::Embedded) => unreachable!("started above"),
    };
    // Two unicorns that never answer themselves: partners answer for them.
    let fleet = fleet(BERLIN, 2, 2, 0.0);
    let external = TestBroker::Kafka(brokers.clone());
    let mut settings = settings(&external, dir.path(), vec![adapter("alpha", fleet)], false);
    let registry_url = serve_registry(&settings).await;
    settings.intake.pipeline.registry.registry_url = Some(registry_url.clone());

    let t = TestPipeline::start_with(settings.clone()).await;
    let (location, body) = t.submit(BERLIN, 60).await;
    assert_eq!(body["providers-addressed"], 2, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let codec = t.codec();
    let rfq = broadcast(&brokers, &t.topics.requests_topic, &codec, &id).await;
    let topics = t.topics.clone();
    t.stop().await;

    // While the pipeline is down, the first unicorn answers with v1 ...
    let addressed: Vec<ProviderId> = rfq.addressed.iter().cloned().collect();
    let answer = Answer {
        rfq: rfq.id,
        provider: addressed[0].clone(),
        responded_at: chrono::Utc::now(),
        reply: Reply::Quoted {
            price: Price::new(1800, Currency::parse("EUR").unwrap()).unwrap(),
            pickup_eta_seconds: 300,
        },
    };
    let quotes = &topics.quotes_topic;
    let v1 = codec.encode(quotes, &Record::Answer(answer)).await.unwrap();
    // ... then its partner upgrades to QuoteResponse v2 (registered as the
    // subject's next version) and the second answers with it, as a Rust
    // partner's schema_registry_converter writes it.
    let encoder = AvroEncoder::new(SrSettings::new(registry_url.clone()));
    let outcome = Value::Record(vec![
        ("price_minor".into(), Value::Long(1600)),
        ("currency".into(), Value::String("EUR".into())),
        ("pickup_eta_seconds".into(), Value::Int(120)),
    ]);
    let fields = vec![
        ("correlation_id", Value::String(id.clone())),
        ("provider", Value::String(addressed[1].to_string())),
        (
            "responded_at",
            Value::TimestampMillis(chrono::Utc::now().timestamp_millis()),
        ),
        ("outcome", Value::Union(0, Box::new(outcome))),
        (
            "note",
            Value::Union(1, Box::new(Value::String("child seat".into()))),
        ),
    ];
    let supplied = SuppliedSchema::new(None, SchemaType::Avro, v2_schema());
    let strategy =
        SubjectNameStrategy::TopicNameStrategyWithSchema(quotes.clone(), false, supplied);
    let v2 = encoder.encode(fields, strategy).await.unwrap();
    assert_ne!(v1[1..5], v2[1..5], "v1 and v2 have ids of their own");
    let producer: FutureProducer = rfq_core::kafka::KafkaSettings::new(&brokers)
        .client_config("partner", &[])
        .create()
        .unwrap();
    for payload in [&v1, &v2] {
        producer
            .send(
                FutureRecord::to(quotes)
                    .partition(rfq.return_address.partition)
                    .key(&id)
                    .payload(payload.as_slice()),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    // Started again (the upgrade), the pipeline reads both and closes.
    let t = TestPipeline::start_with(settings).await;
    let result = t.closed_result(&location, Duration::from_secs(60)).await;
    assert_eq!(result["closed-by"], "all-answered", "{result}");
    let prices: Vec<(&str, &str)> = result["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["provider"].as_str().unwrap(),
                q["price"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prices,
        [
            (addressed[1].as_str(), "16.00"),
            (addressed[0].as_str(), "18.00")
        ]
    );
    t.stop().await;
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
}
