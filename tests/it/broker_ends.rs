//! The embedded broker's end of a partition (ListOffsets) is never behind
//! the records it has served, under load: producers write while a reader
//! follows the partition and a third client keeps asking for the end. tansu
//! 0.6 alone answered ends behind its records (seen in CI); its front does
//! not, which is what lets `read_to_end` stop at the end it is given.

use crate::helpers::run_pipeline_test;
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer as _},
    producer::FutureRecord,
};
use rfq_broker::{BrokerSettings, BrokerStorage, EmbeddedBroker};
use rfq_core::kafka::KafkaSettings;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

const TOPIC: &str = "ends-under-load";
const PRODUCERS: usize = 4;
const RECORDS: usize = 300;

fn reader(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "ends-under-load")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

#[test]
fn the_end_is_never_behind_the_records_served_under_load_on_embedded() {
    run_pipeline_test(async {
        let dir = tempfile::tempdir().unwrap();
        let broker = EmbeddedBroker::start(BrokerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            storage: BrokerStorage::Sqlite(dir.path().join("broker.db")),
        })
        .await
        .unwrap();
        let brokers = broker.addr().to_string();
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .unwrap();
        admin
            .create_topics(
                &[NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();

        let served = Arc::new(AtomicI64::new(-1));
        let stop = Arc::new(AtomicBool::new(false));
        let follower = {
            let (brokers, served, stop) = (brokers.clone(), served.clone(), stop.clone());
            std::thread::spawn(move || {
                let consumer = reader(&brokers);
                let mut assignment = TopicPartitionList::new();
                assignment
                    .add_partition_offset(TOPIC, 0, Offset::Beginning)
                    .unwrap();
                consumer.assign(&assignment).unwrap();
                let total = (PRODUCERS * RECORDS) as i64;
                let give_up = std::time::Instant::now() + Duration::from_secs(120);
                // Until every record is served; then the asker stops too.
                while served.load(Ordering::SeqCst) + 1 < total {
                    assert!(
                        std::time::Instant::now() < give_up,
                        "every record served within 120 s"
                    );
                    if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                        served.fetch_max(message.unwrap().offset(), Ordering::SeqCst);
                    }
                }
                stop.store(true, Ordering::SeqCst);
            })
        };
        let asker = {
            let (brokers, served, stop) = (brokers.clone(), served.clone(), stop.clone());
            std::thread::spawn(move || {
                let consumer = reader(&brokers);
                let mut asked = 0;
                let give_up = std::time::Instant::now() + Duration::from_secs(150);
                while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < give_up {
                    // Read what was served before asking: the end must cover it.
                    let seen = served.load(Ordering::SeqCst);
                    let (_, end) = consumer
                        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
                        .unwrap();
                    assert!(end > seen, "an end of {end} after offset {seen} was served");
                    asked += 1;
                }
                asked
            })
        };

        let kafka = KafkaSettings::new(brokers.clone());
        let writers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let producer = kafka.producer(&format!("ends-{p}")).unwrap();
                tokio::spawn(async move {
                    for i in 0..RECORDS {
                        let key = format!("{p}-{i}");
                        producer
                            .send(
                                FutureRecord::to(TOPIC).key(&key).payload(&key),
                                Duration::from_secs(30),
                            )
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let total = (PRODUCERS * RECORDS) as i64;
        let asked = tokio::task::spawn_blocking(move || {
            follower.join().unwrap();
            asker.join().unwrap()
        })
        .await
        .unwrap();
        assert!(
            asked >= 10,
            "the end was asked for {asked} times during the load"
        );
        let (_, end) = reader(&brokers)
            .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
            .unwrap();
        assert_eq!(end, total);
        broker.stop().await;
    });
}
