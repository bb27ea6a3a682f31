//! A partner at its door, as the doors' tests drive one (a real rdkafka
//! client, Confluent's wire format), and what the tests look at: the dead
//! letters, the door's consumer group, the metrics.

use crate::helpers::{TestPipeline, header};
use rdkafka::{
    Message as _,
    consumer::{BaseConsumer, Consumer as _, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};
use rfq_avro::{Record, SharedCodec};
use rfq_core::{
    Answer, CorrelationId, Currency, Door, GeoPoint, PartnerName, PartnerRfq, Price,
    ProviderHeartbeat, ProviderId, ProviderStatus, Region, RegionPrecision, Reply,
    kafka::DeadLetterHeaders,
};
use std::{ops::ControlFlow, time::Duration};

/// How long anything here may take.
pub(super) const WITHIN: Duration = Duration::from_secs(30);

/// A partner on Kafka, at its door only.
pub(super) struct DoorPartner {
    pub(super) door: Door,
    producer: FutureProducer,
    codec: SharedCodec,
    /// Reads the door's rfqs topic in the partner's own group.
    rfqs: StreamConsumer,
}

impl DoorPartner {
    pub(super) async fn new(t: &TestPipeline, partner: &PartnerName) -> DoorPartner {
        let door = partner.door();
        wait_for_topics(&t.brokers(), &door).await;
        let rfqs: StreamConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", t.brokers())
            .set("group.id", format!("{}partner", door.prefix()))
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        rfqs.subscribe(&[&door.rfqs_topic()]).unwrap();
        DoorPartner {
            producer: rdkafka::ClientConfig::new()
                .set("bootstrap.servers", t.brokers())
                .create()
                .unwrap(),
            codec: t.codec(),
            door,
            rfqs,
        }
    }

    pub(super) fn id(&self, car: &str) -> String {
        format!("{}-{car}", self.door.partner())
    }

    async fn send(&self, topic: &str, key: &str, record: Record) {
        let payload = self.codec.encode(topic, &record).await.unwrap();
        let to = FutureRecord::to(topic).key(key).payload(&payload);
        self.producer.send(to, WITHIN).await.unwrap();
    }

    /// Heartbeats `provider` (any id: the door judges it) at `at`.
    pub(super) async fn heartbeat(&self, provider: &str, at: (f64, f64)) {
        let position = GeoPoint::new(at.0, at.1).unwrap();
        let heartbeat = ProviderHeartbeat {
            provider: ProviderId::parse(provider).unwrap(),
            // The door names the partner, whatever the partner writes.
            adapter: "any-name-at-all".to_owned(),
            region: Region::of(&position, RegionPrecision::DEFAULT),
            position,
            status: ProviderStatus::Online,
            at: chrono::Utc::now(),
            valid_for: Duration::from_secs(120),
        };
        let topic = self.door.heartbeats_topic();
        self.send(&topic, provider, Record::Heartbeat(heartbeat))
            .await;
    }

    /// Quotes `minor` cents for `rfq` in the name of `provider`.
    pub(super) async fn quote(&self, rfq: CorrelationId, provider: &str, minor: i64) {
        let answer = Answer {
            rfq,
            provider: ProviderId::parse(provider).unwrap(),
            responded_at: chrono::Utc::now(),
            reply: Reply::Quoted {
                price: Price::new(minor, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 60,
            },
        };
        let topic = self.door.answers_topic();
        self.send(&topic, &rfq.to_string(), Record::Answer(answer))
            .await;
    }

    /// The door's record of `rfq`, raw and decoded, as the partner reads it.
    pub(super) async fn rfq(&self, rfq: CorrelationId) -> (Vec<u8>, PartnerRfq) {
        let give_up = tokio::time::Instant::now() + WITHIN;
        loop {
            let left = give_up.saturating_duration_since(tokio::time::Instant::now());
            let message = tokio::time::timeout(left, self.rfqs.recv())
                .await
                .unwrap_or_else(|_| panic!("{rfq} not on {}", self.door.rfqs_topic()))
                .unwrap();
            let payload = message.payload().unwrap().to_vec();
            let decoded = self.codec.decode(message.topic(), &payload).await.unwrap();
            let Record::PartnerRfq(seen) = decoded else {
                panic!("not a PartnerRfq: {decoded:?}");
            };
            assert_eq!(rfq_key(&message), seen.id.to_string(), "keyed by its id");
            if seen.id == rfq {
                return (payload, seen);
            }
        }
    }
}

/// The key of a door record: its correlation id, as text.
pub(super) fn rfq_key(message: &rdkafka::message::BorrowedMessage<'_>) -> String {
    String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned()
}

/// Waits until the door's topics exist (the door creates them when it
/// opens; a partner writing before would have a real Kafka auto-create
/// them otherwise).
pub(super) async fn wait_for_topics(brokers: &str, door: &Door) {
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let give_up = tokio::time::Instant::now() + WITHIN;
    let wanted = [
        door.rfqs_topic(),
        door.answers_topic(),
        door.heartbeats_topic(),
    ];
    loop {
        let metadata = tokio::task::block_in_place(|| {
            client.fetch_metadata(None, Duration::from_secs(5)).unwrap()
        });
        let there = |name: &String| {
            metadata
                .topics()
                .iter()
                .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
        };
        if wanted.iter().all(there) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{wanted:?} not created"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the dead-letter topic until a letter of `partner` of `kind`
/// (its source topic and provider too) shows up.
pub(super) async fn dead_letter(
    t: &TestPipeline,
    partner: &PartnerName,
    kind: &str,
    source: &str,
    provider: &str,
) {
    let consumer = crate::helpers::observer(&t.brokers(), &t.topics.dead_letter_topic);
    let give_up = tokio::time::Instant::now() + WITHIN;
    loop {
        let left = give_up.saturating_duration_since(tokio::time::Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} dead letter of {partner} for {provider}"))
            .unwrap();
        let is = |name: &str, value: &str| header(&message, name).as_deref() == Some(value);
        if is(DeadLetterHeaders::PARTNER, partner.as_str())
            && is(DeadLetterHeaders::KIND, kind)
            && is(DeadLetterHeaders::TOPIC, source)
            && is(DeadLetterHeaders::PROVIDER, provider)
        {
            assert!(is(DeadLetterHeaders::COMPONENT, "door"));
            return;
        }
    }
}

/// Waits until the door of `partner` has read (and committed) every RFQ
/// on the requests topic so far, then returns the ids on its rfqs topic.
pub(super) async fn door_rfqs_after_catching_up(
    t: &TestPipeline,
    partner: &PartnerName,
) -> Vec<CorrelationId> {
    let kafka = t.pipeline().kafka();
    let group = kafka.group(&format!("rfq-door-{partner}-requests"));
    let reader: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", t.brokers())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let requests = &t.topics.requests_topic;
    let give_up = tokio::time::Instant::now() + WITHIN;
    use tokio::task::block_in_place as blocking;
    loop {
        let mut list = rdkafka::TopicPartitionList::new();
        let mut ends = Vec::new();
        for partition in 0..t.topics.requests_partitions {
            list.add_partition(requests, partition);
            let (_, high) =
                blocking(|| reader.fetch_watermarks(requests, partition, Duration::from_secs(5)))
                    .unwrap();
            ends.push(high);
        }
        let committed =
            blocking(|| reader.committed_offsets(list, Duration::from_secs(5))).unwrap();
        let caught_up = committed.elements().iter().all(|element| {
            let end = ends[usize::try_from(element.partition()).unwrap()];
            end == 0 || element.offset().to_raw().is_some_and(|at| at >= end)
        });
        if caught_up {
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the door of {partner} did not read the requests topic to its end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let topic = partner.door().rfqs_topic();
    let mut ids = Vec::new();
    blocking(|| {
        for partition in 0..rfq_core::kafka::DOOR_PARTITIONS {
            let (low, high) = reader
                .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                .unwrap();
            rfq_core::kafka::read_to_end(&reader, &topic, partition, (low, high), WITHIN, |m| {
                ids.push(CorrelationId::parse(&rfq_key(m)).unwrap());
                ControlFlow::Continue(())
            })
            .unwrap();
        }
    });
    ids
}

/// The `adapter` (the partner) of `provider`'s first heartbeat on the
/// pipeline's providers topic.
pub(super) async fn registered_by(t: &TestPipeline, provider: &str) -> String {
    let consumer = crate::helpers::observer(&t.brokers(), &t.topics.providers_topic);
    let codec = t.codec();
    let give_up = tokio::time::Instant::now() + WITHIN;
    loop {
        let left = give_up.saturating_duration_since(tokio::time::Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat of {provider}"))
            .unwrap();
        if message.key() != Some(provider.as_bytes()) {
            continue;
        }
        let payload = message.payload().unwrap();
        let Record::Heartbeat(heartbeat) = codec.decode(message.topic(), payload).await.unwrap()
        else {
            panic!("not a heartbeat");
        };
        drop(message);
        tokio::task::block_in_place(|| drop(consumer));
        return heartbeat.adapter;
    }
}

/// `rfq_door_…_total{kind, partner}` as `/metrics` prints it.
pub(super) fn series(metric: &str, partner: &PartnerName, kind: &str) -> String {
    format!(r#"rfq_door_{metric}_total{{kind="{kind}",partner="{partner}"}}"#)
}

/// A partner name of this run only (a real Kafka is shared by runs).
pub(super) fn partner(stem: &str) -> PartnerName {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let letters: String = run
        .chars()
        .filter(char::is_ascii_lowercase)
        .take(6)
        .collect();
    PartnerName::parse(&format!("{stem}{letters}")).unwrap()
}
