use super::*;
use rfq_core::{ProviderStatus, Radius};

const BERLIN: (f64, f64) = (52.52, 13.40);

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

/// The default vicinity with another radius.
fn within(metres: u32) -> Vicinity {
    let radius = Radius::new(metres).unwrap();
    Vicinity {
        radius,
        ..Vicinity::DEFAULT
    }
}

fn beat_at(
    id: &str,
    position: GeoPoint,
    at: DateTime<Utc>,
    status: ProviderStatus,
) -> ProviderHeartbeat {
    ProviderHeartbeat {
        provider: ProviderId::parse(id).unwrap(),
        adapter: "a".into(),
        region: Region::of(&position, RegionPrecision::DEFAULT),
        position,
        status,
        at,
        valid_for: Duration::from_secs(30),
    }
}

fn beat(id: &str, at: DateTime<Utc>, status: ProviderStatus) -> ProviderHeartbeat {
    beat_at(id, point(BERLIN.0, BERLIN.1), at, status)
}

fn names(providers: &BTreeSet<ProviderId>) -> Vec<&str> {
    providers.iter().map(ProviderId::as_str).collect()
}

#[test]
fn addresses_live_providers_within_the_radius_only() {
    let registry = Registry::default();
    let now = Utc::now();
    let pickup = point(BERLIN.0, BERLIN.1);
    registry.apply(beat("fresh", now, ProviderStatus::Online));
    registry.apply(beat(
        "expired",
        now - chrono::Duration::seconds(31),
        ProviderStatus::Online,
    ));
    registry.apply(beat("left", now, ProviderStatus::Offline));
    registry.apply(beat_at(
        "potsdam",
        point(52.40, 13.06),
        now,
        ProviderStatus::Online,
    ));
    let v = within(5_000);
    assert_eq!(names(&registry.live_near(&pickup, &v, now)), ["fresh"]);
    let munich = point(48.137, 11.575);
    assert!(registry.live_near(&munich, &v, now).is_empty());
    // Potsdam is 27 km away: within a 30 km radius, not within 5 km.
    assert_eq!(
        names(&registry.live_near(&pickup, &within(30_000), now)),
        ["fresh", "potsdam"]
    );
}

#[test]
fn a_provider_100_m_away_across_a_cell_border_is_addressed_and_one_just_outside_is_not() {
    let registry = Registry::default();
    let now = Utc::now();
    let cell = Region::parse("u33db").unwrap();
    let (south, north, west, east) = cell.bounds();
    // 50 m either side of the cell's eastern border; west of the pickup,
    // beyond its cell, 4,990 m and 5,010 m away.
    let border = point((south + north) / 2.0, east);
    let (pickup, across) = (border.toward(270.0, 0.05), border.toward(90.0, 0.05));
    let inside = pickup.toward(270.0, 4.99);
    let outside = pickup.toward(270.0, 5.01);
    assert_eq!(Region::of(&pickup, RegionPrecision::DEFAULT), cell);
    assert_ne!(Region::of(&across, RegionPrecision::DEFAULT), cell);
    assert!(inside.lon() < west && outside.lon() < west);
    for (id, position) in [("across", across), ("inside", inside), ("outside", outside)] {
        registry.apply(beat_at(id, position, now, ProviderStatus::Online));
    }
    let v = within(5_000);
    assert_eq!(
        names(&registry.live_near(&pickup, &v, now)),
        ["across", "inside"]
    );
}

#[test]
fn near_the_pole_and_across_the_antimeridian_providers_are_found() {
    let registry = Registry::default();
    let now = Utc::now();
    let v = within(5_000);
    // Across the antimeridian: 2.2 km apart, geohashes with nothing in common.
    registry.apply(beat_at(
        "west",
        point(0.0, -179.99),
        now,
        ProviderStatus::Online,
    ));
    assert_eq!(
        names(&registry.live_near(&point(0.0, 179.99), &v, now)),
        ["west"]
    );
    // Across the pole: 2.2 km apart on opposite meridians; and 3.9 km at
    // 20 degrees of longitude, 11 km from the pole.
    registry.apply(beat_at(
        "opposite",
        point(89.99, 180.0),
        now,
        ProviderStatus::Online,
    ));
    registry.apply(beat_at(
        "twenty-east",
        point(89.9, 20.0),
        now,
        ProviderStatus::Online,
    ));
    assert_eq!(
        names(&registry.live_near(&point(89.99, 0.0), &v, now)),
        ["opposite"]
    );
    assert_eq!(
        names(&registry.live_near(&point(89.9, 0.0), &v, now)),
        ["twenty-east"]
    );
}

#[test]
fn a_provider_that_moved_is_found_where_it_is_now_only() {
    let registry = Registry::default();
    let now = Utc::now();
    let v = within(5_000);
    let berlin = point(BERLIN.0, BERLIN.1);
    let potsdam = point(52.40, 13.06);
    registry.apply(beat_at("p", berlin, now, ProviderStatus::Online));
    registry.apply(beat_at(
        "p",
        potsdam,
        now + chrono::Duration::seconds(1),
        ProviderStatus::Online,
    ));
    assert!(registry.live_near(&berlin, &v, now).is_empty());
    assert_eq!(names(&registry.live_near(&potsdam, &v, now)), ["p"]);
    let known = registry.known.read().unwrap();
    assert_eq!(known.by_region.len(), 1, "its old region is dropped");
}

#[test]
fn a_heartbeat_cut_at_another_precision_is_named() {
    let at_ours = beat("p", Utc::now(), ProviderStatus::Online);
    assert_eq!(
        region_disagreement(&at_ours, RegionPrecision::DEFAULT),
        None
    );
    let coarser = RegionPrecision::new(4).unwrap();
    let reason = region_disagreement(&at_ours, coarser).expect("a disagreement");
    assert!(reason.contains("--region-precision 4"), "{reason}");
    assert!(reason.contains(at_ours.region.as_str()), "{reason}");
}

#[test]
fn an_older_heartbeat_does_not_override_a_newer_one() {
    let registry = Registry::default();
    let now = Utc::now();
    registry.apply(beat("p", now, ProviderStatus::Offline));
    registry.apply(beat(
        "p",
        now - chrono::Duration::seconds(5),
        ProviderStatus::Online,
    ));
    let pickup = point(BERLIN.0, BERLIN.1);
    assert!(registry.live_near(&pickup, &within(5_000), now).is_empty());
}

#[tokio::test]
async fn wait_for_returns_once_registered() {
    let registry = Registry::default();
    let id = ProviderId::parse("late").unwrap();
    let waiter = {
        let registry = registry.clone();
        let id = id.clone();
        tokio::spawn(async move { registry.wait_for(&[id], Duration::from_secs(5)).await })
    };
    registry.apply(beat("late", Utc::now(), ProviderStatus::Online));
    waiter.await.unwrap().unwrap();
    assert!(
        registry
            .wait_for(
                &[ProviderId::parse("never").unwrap()],
                Duration::from_millis(50)
            )
            .await
            .is_err()
    );
}
