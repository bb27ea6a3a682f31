//! Partners' doors, driven as partners drive them: a real rdkafka client
//! and Confluent's Avro wire format, on the door's topics only. Two
//! partners quote in one RFQ through their doors; each sees its own
//! providers and no customer; what one writes in the other's name, or for
//! an RFQ not addressed to it, is dead-lettered with the partner named and
//! counted per partner.

use crate::helpers::{
    BERLIN, MUNICH, TestBroker, TestPipeline, adapter, fleet, header, on_both_brokers, outcomes,
    settings,
};
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
const WITHIN: Duration = Duration::from_secs(30);

/// A partner on Kafka, at its door only.
struct DoorPartner {
    door: Door,
    producer: FutureProducer,
    codec: SharedCodec,
    /// Reads the door's rfqs topic in the partner's own group.
    rfqs: StreamConsumer,
}

impl DoorPartner {
    async fn new(t: &TestPipeline, partner: &PartnerName) -> DoorPartner {
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

    fn id(&self, car: &str) -> String {
        format!("{}-{car}", self.door.partner())
    }

    async fn send(&self, topic: &str, key: &str, record: Record) {
        let payload = self.codec.encode(topic, &record).await.unwrap();
        let to = FutureRecord::to(topic).key(key).payload(&payload);
        self.producer.send(to, WITHIN).await.unwrap();
    }

    /// Heartbeats `provider` (any id: the door judges it) at `at`.
    async fn heartbeat(&self, provider: &str, at: (f64, f64)) {
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
    async fn quote(&self, rfq: CorrelationId, provider: &str, minor: i64) {
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
    async fn rfq(&self, rfq: CorrelationId) -> (Vec<u8>, PartnerRfq) {
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
fn rfq_key(message: &rdkafka::message::BorrowedMessage<'_>) -> String {
    String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned()
}

/// Waits until the door's topics exist (the door creates them when it
/// opens; a partner writing before would have a real Kafka auto-create
/// them otherwise).
async fn wait_for_topics(brokers: &str, door: &Door) {
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
async fn dead_letter(
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
async fn door_rfqs_after_catching_up(
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
async fn registered_by(t: &TestPipeline, provider: &str) -> String {
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
fn series(metric: &str, partner: &PartnerName, kind: &str) -> String {
    format!(r#"rfq_door_{metric}_total{{kind="{kind}",partner="{partner}"}}"#)
}

/// A partner name of this run only (a real Kafka is shared by runs).
fn partner(stem: &str) -> PartnerName {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let letters: String = run
        .chars()
        .filter(char::is_ascii_lowercase)
        .take(6)
        .collect();
    PartnerName::parse(&format!("{stem}{letters}")).unwrap()
}

on_both_brokers!(partners_quote_through_their_doors_and_only_for_their_own);
async fn partners_quote_through_their_doors_and_only_for_their_own(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let (acme_name, bolt_name) = (partner("acme"), partner("bolt"));
    let mut doors = adapter("doors", fleet(BERLIN, 0, 0, 0.0));
    doors.doors = vec![acme_name.clone(), bolt_name.clone()];
    let t = TestPipeline::start_with(settings(&broker, dir.path(), vec![doors], true)).await;
    let acme = DoorPartner::new(&t, &acme_name).await;
    let bolt = DoorPartner::new(&t, &bolt_name).await;
    let (acme_car, bolt_car, bolt_far) = (acme.id("car-1"), bolt.id("car-1"), bolt.id("car-2"));

    // Heartbeats through the doors register the partners' own providers;
    // acme's heartbeat for a bolt provider is refused.
    acme.heartbeat(&acme_car, BERLIN).await;
    bolt.heartbeat(&bolt_car, BERLIN).await;
    bolt.heartbeat(&bolt_far, MUNICH).await;
    let impostor = bolt.id("car-9");
    acme.heartbeat(&impostor, BERLIN).await;
    let ids: Vec<ProviderId> = [&acme_car, &bolt_car, &bolt_far]
        .iter()
        .map(|id| ProviderId::parse(id).unwrap())
        .collect();
    t.pipeline()
        .providers()
        .wait_for(&ids, WITHIN)
        .await
        .unwrap();
    let acme_door = acme_name.door();
    dead_letter(
        &t,
        &acme_name,
        "impersonation",
        &acme_door.heartbeats_topic(),
        &impostor,
    )
    .await;
    let berlin = GeoPoint::new(BERLIN.0, BERLIN.1).unwrap();
    let near = t.pipeline().providers().live_near(
        &berlin,
        &rfq_core::Vicinity::DEFAULT,
        chrono::Utc::now(),
    );
    let impostor_id = ProviderId::parse(&impostor).unwrap();
    assert!(!near.contains(&impostor_id), "{near:?}");
    assert!(near.contains(&ids[0]) && near.contains(&ids[1]), "{near:?}");
    assert_eq!(registered_by(&t, &acme_car).await, acme_name.as_str());

    // One RFQ addressed to both: each partner sees its own provider only,
    // and no customer.
    let (location, accepted) = t.submit(BERLIN, 30).await;
    assert_eq!(accepted["providers-addressed"], 2, "{accepted}");
    let id = CorrelationId::parse(location.trim_start_matches("/rfqs/")).unwrap();
    let (raw, seen) = acme.rfq(id).await;
    assert_eq!(seen.providers, vec![ids[0].clone()]);
    assert_eq!(seen.answer_to, acme_door.answers_topic());
    assert!(seen.answer_by <= seen.deadline);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("test-customer"), "a customer id in {text:?}");
    assert!(
        !text.contains(bolt_name.as_str()),
        "a competitor in {text:?}"
    );
    let (_, seen_by_bolt) = bolt.rfq(id).await;
    assert_eq!(seen_by_bolt.providers, vec![ids[1].clone()]);

    // acme answers in bolt's name first (cheaper): refused; bolt's own
    // quote, sent after, stands.
    acme.quote(id, &bolt_car, 100).await;
    dead_letter(
        &t,
        &acme_name,
        "impersonation",
        &acme_door.answers_topic(),
        &bolt_car,
    )
    .await;
    bolt.quote(id, &bolt_car, 900).await;
    acme.quote(id, &acme_car, 1000).await;
    let result = t.closed_result(&location, WITHIN).await;
    assert_eq!(result["closed-by"], "all-answered", "{result}");
    let (mut quoted, _, _) = outcomes(&result);
    quoted.sort();
    let mut both = vec![acme_car.clone(), bolt_car.clone()];
    both.sort();
    assert_eq!(quoted, both, "{result}");
    let bolt_quote = result["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["provider"] == bolt_car.as_str())
        .unwrap();
    assert_eq!(bolt_quote["price"], "9.00", "{result}");

    // An RFQ addressed to bolt only: never on acme's door, and acme's
    // answer to it is not its to give.
    let (far, accepted) = t.submit(MUNICH, 30).await;
    assert_eq!(accepted["providers-addressed"], 1, "{accepted}");
    let far = CorrelationId::parse(far.trim_start_matches("/rfqs/")).unwrap();
    let (_, seen_by_bolt) = bolt.rfq(far).await;
    assert_eq!(seen_by_bolt.providers, vec![ids[2].clone()]);
    acme.quote(far, &acme_car, 500).await;
    dead_letter(
        &t,
        &acme_name,
        "not-yours",
        &acme_door.answers_topic(),
        &acme_car,
    )
    .await;
    let on_acme = door_rfqs_after_catching_up(&t, &acme_name).await;
    assert!(on_acme.contains(&id), "{on_acme:?}");
    assert!(
        !on_acme.contains(&far),
        "bolt's RFQ on acme's door: {on_acme:?}"
    );

    // Counted per partner.
    for (metric, partner, kind, value) in [
        ("forwarded", &acme_name, "rfq", 1.0),
        ("forwarded", &bolt_name, "rfq", 2.0),
        ("forwarded", &acme_name, "quote", 1.0),
        ("forwarded", &bolt_name, "quote", 1.0),
        ("forwarded", &acme_name, "heartbeat", 1.0),
        ("forwarded", &bolt_name, "heartbeat", 2.0),
        ("dead_letters", &acme_name, "impersonation", 2.0),
        ("dead_letters", &acme_name, "not-yours", 1.0),
        ("dead_letters", &bolt_name, "impersonation", 0.0),
    ] {
        t.assert_metric(&series(metric, partner, kind), value).await;
    }
    // The partners' group consumers leave while the broker is up.
    tokio::task::block_in_place(|| drop((acme, bolt)));
    t.stop().await;
}

on_both_brokers!(a_restarted_door_knows_the_rfqs_it_sent);
async fn a_restarted_door_knows_the_rfqs_it_sent(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let acme_name = partner("acme");
    let mut doors = adapter("doors", fleet(BERLIN, 0, 0, 0.0));
    doors.doors = vec![acme_name.clone()];
    // The same settings twice: on a shared Kafka, the same topics and groups.
    let settings = settings(&broker, dir.path(), vec![doors], false);
    let t = TestPipeline::start_with(settings.clone()).await;
    let acme = DoorPartner::new(&t, &acme_name).await;
    let car = acme.id("car-1");
    acme.heartbeat(&car, BERLIN).await;
    let ids = [ProviderId::parse(&car).unwrap()];
    t.pipeline()
        .providers()
        .wait_for(&ids, WITHIN)
        .await
        .unwrap();
    let (location, _) = t.submit(BERLIN, 60).await;
    let id = CorrelationId::parse(location.trim_start_matches("/rfqs/")).unwrap();
    let (_, seen) = acme.rfq(id).await;
    assert_eq!(seen.providers, ids);
    tokio::task::block_in_place(|| drop(acme));
    t.stop().await;

    // The door knows the RFQ from its log: the answer, sent as soon as the
    // door is open again (likely before it has read its RFQs back), is
    // forwarded, not refused.
    let t = TestPipeline::start_with(settings).await;
    let acme = DoorPartner::new(&t, &acme_name).await;
    acme.quote(id, &car, 1200).await;
    let result = t.closed_result(&location, WITHIN).await;
    assert_eq!(result["closed-by"], "all-answered", "{result}");
    assert_eq!(result["quotes"][0]["provider"], car.as_str(), "{result}");
    t.assert_metric(&series("forwarded", &acme_name, "quote"), 1.0)
        .await;
    t.assert_metric(&series("dead_letters", &acme_name, "not-yours"), 0.0)
        .await;
    tokio::task::block_in_place(|| drop(acme));
    t.stop().await;
}

on_both_brokers!(doors_open_and_close_as_the_set_changes);
async fn doors_open_and_close_as_the_set_changes(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start_with(settings(&broker, dir.path(), vec![], true)).await;
    // A door host of its own, fed a set that changes (as the partner
    // directory would feed it).
    let mut pipeline = rfq_core::pipeline::PipelineSettings {
        kafka: t.pipeline().kafka().clone(),
        topics: t.topics.clone(),
        ..Default::default()
    };
    pipeline.registry.registry_url = Some(t.pipeline().schema_registry_url());
    let (set, doors) = tokio::sync::watch::channel(std::collections::BTreeSet::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let host = tokio::spawn(rfq_adapters::run_doors(
        pipeline,
        adapter("host", fleet(BERLIN, 0, 0, 0.0)),
        t.codec(),
        doors,
        stop.clone(),
    ));
    let acme_name = partner("acme");
    set.send_modify(|set| {
        set.insert(acme_name.clone());
    });
    // Opened: its topics created, its heartbeats forwarded.
    let acme = DoorPartner::new(&t, &acme_name).await;
    let first = acme.id("car-1");
    acme.heartbeat(&first, BERLIN).await;
    let registry = t.pipeline().providers();
    let ids = [ProviderId::parse(&first).unwrap()];
    registry.wait_for(&ids, WITHIN).await.unwrap();
    t.assert_metric(&series("forwarded", &acme_name, "heartbeat"), 1.0)
        .await;

    // Closed, then opened again: it resumes where it left off.
    let open = format!(r#"rfq_door_open{{partner="{acme_name}"}}"#);
    t.assert_metric(&open, 1.0).await;
    set.send_modify(|set| {
        set.remove(&acme_name);
    });
    // Closed: its readers gone (the gauge falls once they all ended).
    let give_up = tokio::time::Instant::now() + WITHIN;
    while t.metric(&open).await != 0.0 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the door did not close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = acme.id("car-2");
    acme.heartbeat(&second, BERLIN).await;
    let forwarded = series("forwarded", &acme_name, "heartbeat");
    assert_eq!(
        t.metric(&forwarded).await,
        1.0,
        "forwarded by a closed door"
    );
    set.send_modify(|set| {
        set.insert(acme_name.clone());
    });
    let ids = [ProviderId::parse(&second).unwrap()];
    registry.wait_for(&ids, WITHIN).await.unwrap();
    t.assert_metric(&series("forwarded", &acme_name, "heartbeat"), 2.0)
        .await;
    t.assert_metric(&open, 1.0).await;

    stop.cancel();
    host.await.unwrap().unwrap();
    tokio::task::block_in_place(|| drop(acme));
    t.stop().await;
}
