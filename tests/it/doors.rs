//! Partners' doors, driven as partners drive them: a real rdkafka client
//! and Confluent's Avro wire format, on the door's topics only. Two
//! partners quote in one RFQ through their doors; each sees its own
//! providers and no customer; what one writes in the other's name, or for
//! an RFQ not addressed to it, is dead-lettered with the partner named and
//! counted per partner.

mod kit;

use crate::helpers::{
    BERLIN, MUNICH, TestBroker, TestPipeline, adapter, fleet, on_both_brokers, outcomes, settings,
};
use kit::{
    DoorPartner, WITHIN, dead_letter, door_rfqs_after_catching_up, partner, registered_by, series,
};
use rfq_core::{CorrelationId, GeoPoint, ProviderId};
use std::time::Duration;

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
