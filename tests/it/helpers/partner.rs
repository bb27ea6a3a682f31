//! A partner provider in a test: registered and answering from outside the
//! pipeline, on its topics.

use super::TestPipeline;
use rfq_avro::Record;
use rfq_core::{
    Answer, CorrelationId, Currency, GeoPoint, Price, ProviderHeartbeat, ProviderId,
    ProviderStatus, Region, RegionPrecision, Reply,
};
use std::time::Duration;

/// A partner provider outside the pipeline, as the partner kit runs one:
/// it registers its unicorns and answers with the pipeline's codec,
/// straight to the topics.
pub struct Partner {
    /// Writes its heartbeats and answers.
    producer: rdkafka::producer::FutureProducer,
    /// The quotes topic.
    quotes_topic: String,
    /// The providers topic.
    providers_topic: String,
    /// Encodes as the pipeline does (its schema registry).
    codec: rfq_avro::SharedCodec,
}

impl Partner {
    /// A partner of the pipeline `t`.
    pub fn new(t: &TestPipeline) -> Partner {
        Partner {
            producer: rdkafka::ClientConfig::new()
                .set("bootstrap.servers", t.brokers())
                .create()
                .unwrap(),
            quotes_topic: t.topics.quotes_topic.clone(),
            providers_topic: t.topics.providers_topic.clone(),
            codec: t.codec(),
        }
    }

    /// Produces `record` to `topic` (to `partition` if given) under `key`.
    async fn send(&self, topic: &str, partition: Option<i32>, key: &str, record: Record) {
        let payload = self.codec.encode(topic, &record).await.unwrap();
        let mut to = rdkafka::producer::FutureRecord::to(topic)
            .key(key)
            .payload(&payload);
        if let Some(partition) = partition {
            to = to.partition(partition);
        }
        self.producer
            .send(to, Duration::from_secs(10))
            .await
            .unwrap();
    }

    /// Registers `provider` at `position` (online for a minute, in its
    /// region at the default precision) and returns its id.
    pub async fn register(&self, provider: &str, position: GeoPoint) -> ProviderId {
        let id = ProviderId::parse(provider).unwrap();
        let heartbeat = ProviderHeartbeat {
            provider: id.clone(),
            adapter: "partner".into(),
            region: Region::of(&position, RegionPrecision::DEFAULT),
            position,
            status: ProviderStatus::Online,
            at: chrono::Utc::now(),
            valid_for: Duration::from_secs(60),
        };
        let topic = &self.providers_topic;
        self.send(topic, None, provider, Record::Heartbeat(heartbeat))
            .await;
        id
    }

    /// Produces `provider`'s quote of `minor` for `rfq` to `partition`.
    pub async fn quote(&self, rfq: CorrelationId, provider: &str, minor: i64, partition: i32) {
        let record = Record::Answer(Answer {
            rfq,
            provider: ProviderId::parse(provider).unwrap(),
            responded_at: chrono::Utc::now(),
            reply: Reply::Quoted {
                price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 120,
            },
        });
        let (topic, key) = (&self.quotes_topic, rfq.to_string());
        self.send(topic, Some(partition), &key, record).await;
    }
}
