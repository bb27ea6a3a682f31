//! Records that cannot be decoded go to the dead-letter topic with the
//! reason, and the pipeline goes on.

use crate::helpers::*;
use rdkafka::{
    ClientConfig, Message,
    message::Headers,
    producer::{FutureProducer, FutureRecord},
};
use rfq_core::kafka::DeadLetterHeaders;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_unknown_answers_are_dead_lettered_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start(dir.path(), vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))]).await;
    let brokers = t.pipeline().kafka_addr().to_string();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to("rfq.quotes")
                .partition(0)
                .key("garbage")
                .payload("{not avro}"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let consumer = crate::helpers::observer(&brokers, "rfq.dead-letter");
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
    let headers = message.headers().expect("headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    assert!(
        header(DeadLetterHeaders::REASON).contains("single-object"),
        "{}",
        header(DeadLetterHeaders::REASON)
    );
    assert_eq!(header(DeadLetterHeaders::TOPIC), "rfq.quotes");
    assert_eq!(header(DeadLetterHeaders::COMPONENT), "aggregator");

    // The pipeline still serves RFQs after the bad record.
    let (location, _) = t.submit(BERLIN, 30).await;
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered");
    let metrics = t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"rfq_dead_letters_total{component="aggregator",kind="decode"}"#),
        "dead letters are counted"
    );
    // librdkafka closes a consumer only once its messages are released.
    drop(message);
    rfq_core::kafka::close_consumer(consumer).await;
    t.stop().await;
}
