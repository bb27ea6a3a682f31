//! What an outside Kafka client sees: the topics with their partitions,
//! and RFQs on the requests topic keyed by region.

use crate::helpers::*;
use rdkafka::{
    ClientConfig, Message,
    consumer::{BaseConsumer, Consumer},
};
use rfq_avro::Record;
use std::time::Duration;

on_both_brokers!(topics_are_partitioned_and_requests_are_keyed_by_region);
async fn topics_are_partitioned_and_requests_are_keyed_by_region(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    let (_, accepted) = t.submit(BERLIN, 30).await;
    let brokers = t.brokers();

    let metadata_client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let metadata = metadata_client
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let partitions = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|topic| topic.name() == name)
            .map(|topic| topic.partitions().len())
            .unwrap_or(0)
    };
    let topics = &t.topics;
    assert_eq!(partitions(&topics.requests_topic), 4);
    assert_eq!(partitions(&topics.quotes_topic), 4);
    assert_eq!(partitions(&topics.providers_topic), 1);
    assert_eq!(partitions(&topics.dead_letter_topic), 1);

    let consumer = crate::helpers::observer(&brokers, &topics.requests_topic);
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("an RFQ on rfq.requests")
        .unwrap();
    let key = std::str::from_utf8(message.key().unwrap()).unwrap();
    assert_eq!(key, accepted["region"].as_str().unwrap());
    assert_eq!(key, "u33db", "central Berlin at 5 geohash characters");
    let Record::Rfq(rfq) = t
        .codec()
        .decode(&topics.requests_topic, message.payload().unwrap())
        .await
        .unwrap()
    else {
        panic!("an RfqRequest on rfq.requests")
    };
    assert_eq!(rfq.id.to_string(), accepted["id"].as_str().unwrap());
    assert_eq!(rfq.return_address.topic, topics.quotes_topic);
    assert_eq!(rfq.addressed.len(), 1);
    // librdkafka closes a consumer only once its messages are released.
    drop(message);
    rfq_core::kafka::close_consumer(consumer).await;

    // The quotes topic is stamped by the broker's clock on a real Kafka
    // (created with LogAppendTime); the embedded broker keeps the
    // producer's create time.
    let quotes = crate::helpers::observer(&brokers, &topics.quotes_topic);
    let message = tokio::time::timeout(Duration::from_secs(30), quotes.recv())
        .await
        .expect("the RFQ's copy on the quotes topic")
        .unwrap();
    match (&broker, message.timestamp()) {
        (TestBroker::Kafka(_), rdkafka::Timestamp::LogAppendTime(_))
        | (TestBroker::Embedded, rdkafka::Timestamp::CreateTime(_)) => {}
        (broker, stamp) => panic!("{broker:?}: quotes stamped {stamp:?}"),
    }
    drop(message);
    rfq_core::kafka::close_consumer(quotes).await;
    t.stop().await;
}
