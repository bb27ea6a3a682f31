//! `rfq up` is no open door: its embedded broker authenticates every
//! Kafka client (SASL/SCRAM-SHA-256) and holds a partner to its own door,
//! tried as a rogue partner would, with a standard client (librdkafka) and
//! its own valid credentials: reading `rfq.requests` or another partner's
//! door, writing to `rfq.quotes` or another's door, joining another's
//! group are each refused with the error Kafka's ACLs give; a wrong
//! password or no credentials get nothing at all.

use crate::helpers::*;
use kafka_protocol::{
    messages::{
        ApiKey as Api, FetchRequest, FetchResponse, FindCoordinatorRequest,
        FindCoordinatorResponse, GroupId, OffsetCommitRequest, OffsetCommitResponse,
        ProduceRequest, ProduceResponse, TopicName,
        fetch_request::{FetchPartition, FetchTopic},
        offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
        produce_request::{PartitionProduceData, TopicProduceData},
    },
    protocol::StrBytes,
};
use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer as _},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{FutureProducer, FutureRecord},
};
use rfq_broker::admin::Admin;
use rfq_core::kafka::KafkaSettings;
use rfq_core::{
    auth::scram::MECHANISM,
    domain::{Door, PartnerName},
};
use std::time::Duration;

/// A partner added by `rfq partners add` to the pipeline's store, and on
/// Apache Kafka (`--brokers`) given its SCRAM credential, its door's ACLs
/// and its quota by the same command; with the Kafka password it printed.
/// Names are made unique: one Kafka serves the whole run.
fn add_partner(broker: &TestBroker, store: &std::path::Path, name: &str) -> (Door, String) {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let name = PartnerName::parse(&format!("{name}{}", &unique[..8])).unwrap();
    let mut args = vec!["add", name.as_str()];
    if let TestBroker::Kafka(brokers) = broker {
        args.extend(["--brokers", brokers.as_str()]);
    }
    let printed = partners(store, &args);
    if let TestBroker::Kafka(_) = broker {
        assert!(printed.contains("ACLs"), "{printed}");
    }
    (name.door(), kafka_password(&printed))
}

/// Where partners connect: the embedded broker's one listener, or the
/// test Kafka's SASL listener (its PLAINTEXT one is for our components).
fn partners_bootstrap(broker: &TestBroker, pipeline: &TestPipeline) -> String {
    match broker {
        TestBroker::Embedded => pipeline.brokers(),
        TestBroker::Kafka(_) => std::env::var("RFQ_TEST_KAFKA_SASL_BROKERS")
            .expect("RFQ_TEST_KAFKA_SASL_BROKERS: tests/servers' start_kafka sets it"),
    }
}

/// A client's settings as partner `user` would write them.
fn as_partner(brokers: &str, user: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", MECHANISM)
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("socket.timeout.ms", "5000")
        .set("message.timeout.ms", "10000");
    config
}

/// The error the broker gives a consumer of `topic` (its metadata, then
/// partition 0 from the start, in `group`) within 3 s, or the number of
/// records it read.
fn read(config: &ClientConfig, topic: &str, group: &str) -> Result<usize, RDKafkaErrorCode> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    // What the client is told of the topic first: refused there already?
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    if let Some(error) = metadata.topics().first().and_then(|topic| topic.error()) {
        return Err(RDKafkaErrorCode::from(error));
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut read = 0;
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => read += 1,
            Some(Err(error)) => match error.rdkafka_error_code() {
                Some(RDKafkaErrorCode::PartitionEOF) => {}
                Some(code) => return Err(code),
                None => panic!("{topic}: {error}"),
            },
            None if read > 0 => return Ok(read),
            None => {}
        }
    }
    Ok(read)
}

/// Writes one record to `topic`; the broker's answer.
async fn write(config: &ClientConfig, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let producer: FutureProducer = config.create().unwrap();
    let record = FutureRecord::to(topic).key("k").payload("rogue");
    match producer.send(record, Duration::from_secs(15)).await {
        Ok(_) => Ok(()),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((error, _)) => panic!("{topic}: {error}"),
    }
}

on_both_brokers!(a_partner_reaches_its_own_door_only);

async fn a_partner_reaches_its_own_door_only(broker: TestBroker) {
    {
        let data = tempfile::tempdir().unwrap();
        let mut settings = settings(
            &broker,
            data.path(),
            vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))],
            true,
        );
        settings.broker.kafka_open = false;
        let pipeline = TestPipeline::start_with(settings).await;
        let brokers = partners_bootstrap(&broker, &pipeline);
        let store = pipeline
            .store
            .store_path
            .clone()
            .expect("the embedded store");
        let (acme, acme_password) = add_partner(&broker, &store, "acme");
        let (bolt, _) = add_partner(&broker, &store, "bolt");
        let topics = pipeline.topics.clone();

        // rfq up: the operator's settings for this run are in the data
        // directory, readable by their owner only; with them, the doors'
        // topics.
        let properties = data.path().join(rfq::OPERATOR_PROPERTIES);
        if let TestBroker::Embedded = broker {
            let text = std::fs::read_to_string(&properties).unwrap();
            assert!(text.contains("sasl.username=rfq-operator"), "{text}");
        }
        #[cfg(unix)]
        if let TestBroker::Embedded = broker {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&properties).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is private", properties.display());
        }
        let admin: AdminClient<DefaultClientContext> = pipeline
            .pipeline()
            .kafka()
            .client_config("tenancy-test", &[])
            .create()
            .unwrap();
        let doors: Vec<String> = [&acme, &bolt]
            .iter()
            .flat_map(|door| {
                [
                    door.rfqs_topic(),
                    door.answers_topic(),
                    door.heartbeats_topic(),
                ]
            })
            .collect();
        let new: Vec<NewTopic> = doors
            .iter()
            .map(|topic| NewTopic::new(topic, 1, TopicReplication::Fixed(1)))
            .collect();
        for created in admin
            .create_topics(&new, &AdminOptions::new())
            .await
            .unwrap()
        {
            match created {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => panic!("creating {topic}: {code}"),
            }
        }

        let acme_client = as_partner(&brokers, acme.partner().as_str(), &acme_password);
        let refused = Some(RDKafkaErrorCode::TopicAuthorizationFailed);
        // Its own door: writes its answers, reads its RFQs.
        assert_eq!(write(&acme_client, &acme.answers_topic()).await, Ok(()));
        assert_eq!(write(&acme_client, &acme.heartbeats_topic()).await, Ok(()));
        let own = read(
            &acme_client,
            &acme.rfqs_topic(),
            &format!("{}quoter", acme.prefix()),
        );
        assert!(own.is_ok(), "acme reads its own RFQs: {own:?}");
        // Everything else: refused as Kafka's ACLs refuse it.
        assert_eq!(
            read(
                &acme_client,
                "rfq.requests",
                &format!("{}spy", acme.prefix())
            )
            .err(),
            refused,
            "acme reads every customer's RFQs"
        );
        assert_eq!(
            read(
                &acme_client,
                &bolt.rfqs_topic(),
                &format!("{}spy", acme.prefix())
            )
            .err(),
            refused,
            "acme reads bolt's door"
        );
        assert_eq!(
            write(&acme_client, &topics.quotes_topic).await.err(),
            refused,
            "acme writes to rfq.quotes"
        );
        assert_eq!(
            write(&acme_client, &topics.providers_topic).await.err(),
            refused,
            "acme heartbeats directly"
        );
        assert_eq!(
            write(&acme_client, &bolt.answers_topic()).await.err(),
            refused,
            "acme writes to bolt's door"
        );
        assert_eq!(
            write(&acme_client, &acme.rfqs_topic()).await.err(),
            refused,
            "acme writes RFQs to itself"
        );
        let theirs = format!("{}quoter", bolt.prefix());
        // Past its client's manners: the protocol spoken raw, as acme.
        let mut kafka = KafkaSettings::new(brokers.clone());
        for (key, value) in [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", MECHANISM),
            ("sasl.username", acme.partner().as_str()),
            ("sasl.password", acme_password.as_str()),
        ] {
            kafka.options.push((key.to_owned(), value.to_owned()));
        }
        let mut raw = Admin::connect(&kafka).await.unwrap();
        for topic in [topics.requests_topic.as_str(), bolt.rfqs_topic().as_str()] {
            let fetch = FetchRequest::default()
                .with_replica_id((-1).into())
                .with_max_bytes(1 << 20)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(0)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]);
            let fetched: FetchResponse = raw.request(Api::Fetch, 11, &fetch).await.unwrap();
            let partitions: Vec<_> = fetched
                .responses
                .iter()
                .flat_map(|topic| &topic.partitions)
                .collect();
            assert!(
                !partitions.is_empty()
                    && partitions
                        .iter()
                        .all(|p| p.error_code == 29
                            && p.records.as_ref().is_none_or(|r| r.is_empty())),
                "a raw fetch of {topic} as acme: {fetched:?}"
            );
        }
        let find = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(theirs.clone()))
            .with_key_type(0);
        let found: FindCoordinatorResponse =
            raw.request(Api::FindCoordinator, 3, &find).await.unwrap();
        assert_eq!(found.error_code, 30, "acme finds bolt's group: {found:?}");
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(theirs.clone())))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(acme.rfqs_topic())))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ]);
        let committed: OffsetCommitResponse =
            raw.request(Api::OffsetCommit, 2, &commit).await.unwrap();
        assert!(
            committed
                .topics
                .iter()
                .flat_map(|topic| &topic.partitions)
                .all(|p| p.error_code == 30),
            "acme commits in bolt's group: {committed:?}"
        );
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(
                        topics.quotes_topic.clone(),
                    )))
                    .with_partition_data(vec![PartitionProduceData::default().with_index(0)]),
            ]);
        let produced: ProduceResponse = raw.request(Api::Produce, 8, &produce).await.unwrap();
        assert!(
            produced
                .responses
                .iter()
                .flat_map(|topic| &topic.partition_responses)
                .all(|p| p.error_code == 29),
            "a raw produce to rfq.quotes as acme: {produced:?}"
        );

        // What acme sees of the cluster: its own door's topics only.
        let consumer: BaseConsumer = acme_client.create().unwrap();
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        let seen: Vec<&str> = metadata.topics().iter().map(|topic| topic.name()).collect();
        assert!(
            !seen.is_empty() && seen.iter().all(|name| acme.holds(name)),
            "{seen:?}"
        );

        // rfq up also takes PLAIN (for clients whose SCRAM is broken),
        // checked against the same credential.
        if let TestBroker::Embedded = broker {
            let mut plain = acme_client.clone();
            plain.set("sasl.mechanism", "PLAIN");
            let consumer: BaseConsumer = plain.create().unwrap();
            let seen = consumer
                .fetch_metadata(None, Duration::from_secs(10))
                .unwrap();
            assert!(seen.topics().iter().all(|topic| acme.holds(topic.name())));
            plain.set("sasl.password", "not-the-password-at-all");
            let consumer: BaseConsumer = plain.create().unwrap();
            assert!(
                consumer
                    .fetch_metadata(None, Duration::from_secs(5))
                    .is_err()
            );
        }

        // A wrong password, or none at all: nothing.
        let wrong = as_partner(&brokers, acme.partner().as_str(), "not-the-password-at-all");
        let stranger: BaseConsumer = wrong.create().unwrap();
        assert!(
            stranger
                .fetch_metadata(None, Duration::from_secs(5))
                .is_err()
        );
        let unknown = as_partner(&brokers, "nobody", "whatever-it-is-here");
        let stranger: BaseConsumer = unknown.create().unwrap();
        assert!(
            stranger
                .fetch_metadata(None, Duration::from_secs(5))
                .is_err()
        );
        let anonymous: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("socket.timeout.ms", "5000")
            .create()
            .unwrap();
        assert!(
            anonymous
                .fetch_metadata(None, Duration::from_secs(5))
                .is_err()
        );

        pipeline.stop().await;
    }
}
