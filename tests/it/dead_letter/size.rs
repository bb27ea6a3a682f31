//! Records too large to copy whole: each dead-lettered cut to its first
//! bytes, and a reference when the broker refuses even those.

use super::*;

/// The size of the records of the tester's finding: under the 1 MiB a
/// broker accepts by default, over what a whole copy plus headers may be.
const HUGE: usize = 1_000_000;

on_both_brokers!(a_huge_record_on_every_topic_is_dead_lettered_cut_and_the_pipeline_serves_on);
async fn a_huge_record_on_every_topic_is_dead_lettered_cut_and_the_pipeline_serves_on(
    broker: TestBroker,
) {
    let _counting = COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 2, 0, 0.0)).await;
    let topics = t.topics.clone();
    // Which component reads which topic.
    let readers = [
        (topics.quotes_topic.clone(), "aggregator"),
        (topics.requests_topic.clone(), "adapter"),
        (topics.providers_topic.clone(), "producer"),
    ];
    let mut before = Vec::new();
    for (_, component) in &readers {
        before.push(dead_letters(&t, component, "decode").await);
    }

    // Not Avro (so every reader refuses it), and each byte tells its position.
    let value: Vec<u8> = (0..HUGE).map(|i| (i % 251) as u8).collect();
    // On the requests topic the key must be a region the adapter serves:
    // the others' RFQs it skips unread, by design.
    let berlin = rfq_core::Region::of(
        &rfq_core::GeoPoint::new(BERLIN.0, BERLIN.1).unwrap(),
        rfq_core::RegionPrecision::DEFAULT,
    );
    let producer = large_record_producer(&t.brokers());
    for (topic, _) in &readers {
        let key = match topic == &topics.requests_topic {
            true => berlin.as_str().to_owned(),
            false => "huge".to_owned(),
        };
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(error, _)| {
                panic!("the broker refused {HUGE} bytes on {topic}: {error}")
            });
    }

    // (b) A dead letter for each, cut to its first bytes, saying so.
    let consumer = observer(&t.brokers(), &topics.dead_letter_topic);
    let letters = dead_letters_where(&consumer, readers.len(), Duration::from_secs(60), |m| {
        header(m, DeadLetterHeaders::SIZE).as_deref() == Some("1000000")
    })
    .await;
    for (topic, component) in &readers {
        let letter = letters
            .iter()
            .find(|m| header(*m, DeadLetterHeaders::TOPIC).as_deref() == Some(topic.as_str()))
            .unwrap_or_else(|| panic!("no dead letter for the record on {topic}"));
        assert_eq!(
            header(letter, DeadLetterHeaders::COMPONENT).as_deref(),
            Some(*component)
        );
        assert_eq!(
            header(letter, DeadLetterHeaders::KIND).as_deref(),
            Some("decode")
        );
        assert_eq!(
            header(letter, DeadLetterHeaders::COPY).as_deref(),
            Some("truncated")
        );
        assert!(header(letter, DeadLetterHeaders::REASON).is_some_and(|r| !r.is_empty()));
        assert!(header(letter, DeadLetterHeaders::OFFSET).is_some());
        let payload = letter.payload().unwrap();
        assert_eq!(payload.len(), rfq_core::kafka::MAX_COPIED_VALUE);
        assert_eq!(payload, &value[..payload.len()], "the value's first bytes");
        let key_size = header(letter, DeadLetterHeaders::KEY_SIZE).unwrap();
        assert_eq!(letter.key().map(<[u8]>::len).unwrap().to_string(), key_size);
    }

    // (c) Counted, once each.
    for ((_, component), before) in readers.iter().zip(before) {
        assert_dead_letters(&t, component, "decode", before + 1).await;
    }

    // (a) The pipeline still serves.
    let (location, _) = t.submit(BERLIN, 30).await;
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered");
    assert_eq!(result["quotes"].as_array().unwrap().len(), 2, "{result}");

    drop(letters);
    rfq_core::kafka::close_consumer(consumer).await;
    // Every component still runs: none stopped before this shutdown.
    t.stop().await;
}

/// When the broker refuses even the cut copy (here: the client's own limit
/// is lower than 64 KiB), the dead letter is a reference to the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_refused_for_its_size_becomes_a_reference() {
    use rfq_core::kafka::{DeadLetter, DeadLetterKind, DeadLetterSource, DeadLetters};
    let dir = tempfile::tempdir().unwrap();
    let (_counting, t) = counting_pipeline(dir.path()).await;
    let before = dead_letters(&t, "test-small-producer", "decode").await;
    let small: rfq_core::kafka::Producer = ClientConfig::new()
        .set("bootstrap.servers", t.brokers())
        .set("message.max.bytes", "8000")
        .create()
        .unwrap();
    let dead_letters_out = DeadLetters::new(
        small,
        t.topics.dead_letter_topic.clone(),
        "test-small-producer",
    );
    let value = vec![7_u8; HUGE];
    dead_letters_out
        .send_letter(DeadLetter {
            key: Some(b"big"),
            value: Some(&value),
            source: DeadLetterSource {
                topic: "somewhere",
                partition: 3,
                offset: 42,
            },
            destination: None,
            kind: DeadLetterKind::Decode,
            reason: "too big to read",
            provider: None,
        })
        .await
        .expect("a size refusal is no failure");

    let consumer = observer(&t.brokers(), &t.topics.dead_letter_topic);
    let letters = dead_letters_where(&consumer, 1, Duration::from_secs(30), |m| {
        header(m, DeadLetterHeaders::COMPONENT).as_deref() == Some("test-small-producer")
    })
    .await;
    let letter = &letters[0];
    assert_eq!(letter.payload(), None);
    assert_eq!(letter.key(), None);
    for (name, value) in [
        (DeadLetterHeaders::COPY, "reference"),
        (DeadLetterHeaders::SIZE, "1000000"),
        (DeadLetterHeaders::KEY_SIZE, "3"),
        (DeadLetterHeaders::TOPIC, "somewhere"),
        (DeadLetterHeaders::PARTITION, "3"),
        (DeadLetterHeaders::OFFSET, "42"),
        (DeadLetterHeaders::REASON, "too big to read"),
    ] {
        assert_eq!(header(letter, name).as_deref(), Some(value), "{name}");
    }
    let refused = header(letter, DeadLetterHeaders::REFUSED).unwrap();
    assert!(refused.to_lowercase().contains("too large"), "{refused}");
    assert_dead_letters(&t, "test-small-producer", "decode", before + 1).await;
    finish(t, consumer, letters).await;
}
