//! An answer its return address refuses: dead-lettered once the RFQ's
//! deadline has passed.

use super::*;

on_both_brokers!(an_answer_its_return_address_refuses_is_dead_lettered_after_the_deadline);
async fn an_answer_its_return_address_refuses_is_dead_lettered_after_the_deadline(
    broker: TestBroker,
) {
    use rfq_avro::Record;
    use rfq_core::{CustomerId, GeoPoint, ReturnAddress, Rfq};
    let _counting = COUNTING.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let alpha = fleet(BERLIN, 2, 0, 0.0);
    let unicorns =
        rfq_adapters::fleet::Fleet::generate("alpha", &alpha, &rfq_core::Vicinity::DEFAULT);
    let t = TestPipeline::start(&broker, dir.path(), vec![adapter("alpha", alpha)]).await;
    let before = dead_letters(&t, "adapter", "undeliverable").await;

    // An RFQ, addressed to the fleet, whose return address names a
    // partition the quotes topic does not have, written straight to the
    // requests topic (as a partner's producer could).
    let from = GeoPoint::new(BERLIN.0, BERLIN.1).unwrap();
    let now = chrono::Utc::now();
    let deadline = now + chrono::Duration::seconds(3);
    let rfq = Rfq {
        customer: CustomerId::parse("nowhere").unwrap(),
        created_at: now,
        deadline,
        addressed: unicorns.unicorns().iter().map(|u| u.id.clone()).collect(),
        return_address: ReturnAddress {
            topic: t.topics.quotes_topic.clone(),
            partition: 99,
        },
        ..Rfq::sample(&[]).picked_up_at(from)
    };
    let codec = t.codec();
    let payload = codec
        .encode(&t.topics.requests_topic, &Record::Rfq(rfq.clone()))
        .await
        .unwrap();
    large_record_producer(&t.brokers())
        .send(
            FutureRecord::to(&t.topics.requests_topic)
                .key(rfq.region.as_str())
                .payload(&payload),
            Duration::from_secs(30),
        )
        .await
        .unwrap();

    // Each unicorn's answer is given up at the deadline and dead-lettered.
    let consumer = observer(&t.brokers(), &t.topics.dead_letter_topic);
    let id = rfq.id.to_string();
    let letters = dead_letters_where(&consumer, 2, Duration::from_secs(60), |m| {
        m.key() == Some(id.as_bytes())
    })
    .await;
    let mut providers = Vec::new();
    for letter in &letters {
        assert_eq!(
            header(letter, DeadLetterHeaders::KIND).as_deref(),
            Some("undeliverable")
        );
        assert_eq!(
            header(letter, DeadLetterHeaders::DESTINATION_PARTITION).as_deref(),
            Some("99")
        );
        assert_eq!(
            header(letter, DeadLetterHeaders::DESTINATION_TOPIC),
            Some(t.topics.quotes_topic.clone())
        );
        assert_eq!(
            header(letter, DeadLetterHeaders::TOPIC),
            Some(t.topics.requests_topic.clone()),
            "the source is the RFQ record"
        );
        let reason = header(letter, DeadLetterHeaders::REASON).unwrap();
        assert!(reason.contains("partition 99"), "{reason}");
        assert!(
            letter.timestamp().to_millis().unwrap() >= deadline.timestamp_millis(),
            "given up only after the deadline"
        );
        // The answer itself, as it would have been delivered.
        let Record::Answer(answer) = codec
            .decode(&t.topics.quotes_topic, letter.payload().unwrap())
            .await
            .unwrap()
        else {
            panic!("not an answer")
        };
        assert_eq!(answer.rfq, rfq.id);
        providers.push(answer.provider.to_string());
    }
    providers.sort();
    let mut addressed: Vec<String> = rfq.addressed.iter().map(|p| p.to_string()).collect();
    addressed.sort();
    assert_eq!(providers, addressed, "one dead letter per unicorn's answer");
    assert_dead_letters(&t, "adapter", "undeliverable", before + 2).await;

    // The adapter goes on answering.
    let (location, _) = t.submit(BERLIN, 30).await;
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered");
    finish(t, consumer, letters).await;
}
