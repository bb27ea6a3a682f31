//! Vicinity through the real pipeline: an RFQ is addressed to the providers
//! within the radius of its pickup point whatever their region, and they
//! get it, our simulated unicorns and a partner's alike.

use crate::helpers::*;
use rdkafka::Message as _;
use rfq_adapters::fleet::Fleet;
use rfq_avro::Record;
use rfq_core::{GeoPoint, ProviderId, Radius, Region, Rfq, Vicinity};
use std::{collections::BTreeSet, time::Duration};

const VICINITY: Vicinity = Vicinity::DEFAULT;

on_both_brokers!(unicorns_within_the_radius_answer_an_rfq_from_the_next_region);
async fn unicorns_within_the_radius_answer_an_rfq_from_the_next_region(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let alpha = fleet(BERLIN, 3, 0, 0.0);
    let unicorns = Fleet::generate("alpha", &alpha, &VICINITY);
    let home = unicorns.unicorns()[0].region.clone();
    // 50 m beyond the eastern border of the unicorns' region: in a region
    // where no unicorn is, within 5 km of each of them.
    let (_, _, _, east) = home.bounds();
    let pickup = GeoPoint::new(BERLIN.0, east).unwrap().toward(90.0, 0.05);
    let region = Region::of(&pickup, VICINITY.precision);
    assert_ne!(region, home);
    for unicorn in unicorns.unicorns() {
        assert_eq!(unicorn.region, home);
        assert!(VICINITY.reaches(&unicorn.position, &pickup), "{unicorn:?}");
    }
    let t = TestPipeline::alpha(&broker, dir.path(), alpha).await;
    let (location, accepted) = t.submit((pickup.lat(), pickup.lon()), 30).await;
    assert_eq!(accepted["providers-addressed"], 3, "{accepted}");
    assert_eq!(accepted["region"], region.as_str());
    assert_eq!(accepted["radius-m"], 5000);
    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered", "{result}");
    assert_eq!(result["radius-m"], 5000);
    let (quoted, declined, unanswered) = outcomes(&result);
    let mut quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
    quoted.sort_unstable();
    let fleet: Vec<&str> = unicorns.unicorns().iter().map(|u| u.id.as_str()).collect();
    assert_eq!(quoted, fleet, "{result}");
    assert!(declined.is_empty() && unanswered.is_empty(), "{result}");
    t.stop().await;
}

on_both_brokers!(a_partner_100_m_across_a_border_is_asked_and_one_just_beyond_the_radius_is_not);
async fn a_partner_100_m_across_a_border_is_asked_and_one_just_beyond_the_radius_is_not(
    broker: TestBroker,
) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::start(&broker, dir.path(), vec![]).await;
    let partner = Partner::new(&t);
    // The pickup 50 m inside the eastern border of central Berlin's region;
    // one unicorn 50 m beyond that border, two to the west, 4,990 m and
    // 5,010 m away (in the region west of the pickup's).
    let cell = Region::of(
        &GeoPoint::new(BERLIN.0, BERLIN.1).unwrap(),
        VICINITY.precision,
    );
    let (south, north, west, east) = cell.bounds();
    let border = GeoPoint::new((south + north) / 2.0, east).unwrap();
    let pickup = border.toward(270.0, 0.05);
    let spots = [
        ("acme-across", border.toward(90.0, 0.05), 100.0),
        ("acme-inside", pickup.toward(270.0, 4.99), 4_990.0),
        ("acme-beyond", pickup.toward(270.0, 5.01), 5_010.0),
    ];
    let mut registered = Vec::new();
    for (name, position, metres) in spots {
        let distance_m = pickup.distance_km(&position) * 1000.0;
        assert!((distance_m - metres).abs() < 0.5, "{name}: {distance_m} m");
        assert_ne!(Region::of(&position, VICINITY.precision), cell, "{name}");
        assert!(name == "acme-across" || position.lon() < west, "{name}");
        registered.push(partner.register(name, position).await);
    }
    t.pipeline()
        .providers()
        .wait_for(&registered, Duration::from_secs(30))
        .await
        .unwrap();

    let requests = observer(&t.brokers(), &t.topics.requests_topic);
    let (location, accepted) = t.submit((pickup.lat(), pickup.lon()), 30).await;
    assert_eq!(accepted["providers-addressed"], 2, "{accepted}");
    let (key, rfq) = the_rfq(&t, &requests, accepted["id"].as_str().unwrap()).await;
    rfq_core::kafka::close_consumer(requests).await;
    // Keyed by the pickup's region, which an adapter reads because it is
    // within the radius of its unicorn across the border (its door then
    // hands a Kafka partner the RFQs addressed to it, whatever the region).
    assert_eq!(key, cell);
    assert!(VICINITY.cells(&spots[0].1).covers(&key));
    let addressed: BTreeSet<ProviderId> = registered[..2].iter().cloned().collect();
    assert_eq!(rfq.addressed, addressed);
    assert_eq!(rfq.radius, Some(Radius::DEFAULT));
    let partition = rfq.return_address.partition;
    partner.quote(rfq.id, "acme-across", 1100, partition).await;
    partner.quote(rfq.id, "acme-inside", 1300, partition).await;

    let result = t.closed_result(&location, Duration::from_secs(30)).await;
    assert_eq!(result["closed-by"], "all-answered", "{result}");
    assert_eq!(result["radius-m"], 5000);
    let (quoted, declined, unanswered) = outcomes(&result);
    assert_eq!(quoted, ["acme-across", "acme-inside"], "cheapest first");
    assert!(declined.is_empty() && unanswered.is_empty(), "{result}");
    t.stop().await;
}

/// The RFQ `id` as `requests` (an observer of the requests topic) reads
/// it: its key and the RFQ.
async fn the_rfq(
    t: &TestPipeline,
    requests: &rdkafka::consumer::StreamConsumer,
    id: &str,
) -> (Region, Rfq) {
    let codec = t.codec();
    let topic = &t.topics.requests_topic;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let message = requests.recv().await.unwrap();
            let payload = message.payload().unwrap_or_default();
            if let Ok(Record::Rfq(rfq)) = codec.decode(topic, payload).await
                && rfq.id.to_string() == id
            {
                let key = std::str::from_utf8(message.key().unwrap()).unwrap();
                return (Region::parse(key).unwrap(), rfq);
            }
        }
    })
    .await
    .expect("the RFQ on the requests topic")
}
