use super::*;
use chrono::{DateTime, Utc};
use rfq_core::{GeoPoint, ProviderStatus, Region, RegionPrecision};
use std::time::Duration;

fn beat(provider: &str, adapter: &str, at: DateTime<Utc>) -> ProviderHeartbeat {
    let position = GeoPoint::new(52.52, 13.40).unwrap();
    ProviderHeartbeat {
        provider: ProviderId::parse(provider).unwrap(),
        adapter: adapter.into(),
        region: Region::of(&position, RegionPrecision::DEFAULT),
        position,
        status: ProviderStatus::Online,
        at,
        valid_for: Duration::from_secs(30),
    }
}

fn id(provider: &str) -> ProviderId {
    ProviderId::parse(provider).unwrap()
}

#[test]
fn a_provider_reads_as_the_adapter_of_its_latest_heartbeat() {
    let partners = Partners::default();
    let now = Utc::now();
    assert_eq!(&*partners.label(&id("car-1")), UNKNOWN);
    partners.apply(&beat("car-1", "fleet-a", now));
    assert_eq!(&*partners.label(&id("car-1")), "fleet-a");
    partners.apply(&beat(
        "car-1",
        "fleet-b",
        now + chrono::Duration::seconds(1),
    ));
    assert_eq!(&*partners.label(&id("car-1")), "fleet-b");
    // An older heartbeat read after a newer one changes nothing.
    partners.apply(&beat("car-1", "fleet-a", now));
    assert_eq!(&*partners.label(&id("car-1")), "fleet-b");
    assert_eq!(&*partners.label(&id("car-2")), UNKNOWN);
}

#[test]
fn partners_beyond_the_bound_read_as_other() {
    let partners = Partners::default();
    let now = Utc::now();
    for n in 0..MAX_PARTNERS + 3 {
        partners.apply(&beat(&format!("car-{n}"), &format!("fleet-{n}"), now));
    }
    let labels: BTreeSet<Arc<str>> = (0..MAX_PARTNERS + 3)
        .map(|n| partners.label(&id(&format!("car-{n}"))))
        .collect();
    // The first MAX_PARTNERS names, then `other` for the rest.
    assert_eq!(labels.len(), MAX_PARTNERS + 1);
    assert_eq!(&*partners.label(&id("car-0")), "fleet-0");
    assert_eq!(&*partners.label(&id(&format!("car-{MAX_PARTNERS}"))), OTHER);
    // A partner admitted before keeps its label for its new providers.
    partners.apply(&beat("bike-1", "fleet-3", now));
    assert_eq!(&*partners.label(&id("bike-1")), "fleet-3");
}

#[test]
fn reserved_and_long_names_stay_bounded() {
    let partners = Partners::default();
    let now = Utc::now();
    // An adapter calling itself `unknown` must not pass for "not known".
    partners.apply(&beat("car-1", UNKNOWN, now));
    assert_eq!(&*partners.label(&id("car-1")), OTHER);
    partners.apply(&beat("car-2", &"x".repeat(500), now));
    assert_eq!(
        partners.label(&id("car-2")).chars().count(),
        MAX_LABEL_CHARS
    );
}
