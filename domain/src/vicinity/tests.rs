use super::*;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

fn vicinity(metres: u32) -> Vicinity {
    let radius = Radius::new(metres).unwrap();
    Vicinity {
        radius,
        ..Vicinity::DEFAULT
    }
}

fn region(p: &GeoPoint) -> Region {
    Region::of(p, RegionPrecision::DEFAULT)
}

#[test]
fn radius_is_checked_and_parsed_in_metres() {
    assert!(Radius::new(0).is_err());
    assert!(Radius::new(MAX_RADIUS_M + 1).is_err());
    assert_eq!(Radius::new(MAX_RADIUS_M).unwrap().metres(), MAX_RADIUS_M);
    assert_eq!(" 5000 ".parse::<Radius>().unwrap(), Radius::DEFAULT);
    assert_eq!(Radius::DEFAULT.km(), 5.0);
    assert_eq!(Radius::DEFAULT.to_string(), "5000");
    for bad in ["", "-1", "5 km", "2.5", "0"] {
        let error = bad.parse::<Radius>().unwrap_err();
        assert_eq!(error.field, "vicinity-radius-m", "{bad:?}");
    }
}

#[test]
fn reaches_is_the_great_circle_distance_within_the_radius() {
    let v = vicinity(5_000);
    let here = point(52.52, 13.40);
    assert!(v.reaches(&here, &here.toward(90.0, 4.99)));
    assert!(!v.reaches(&here, &here.toward(90.0, 5.01)));
    assert!(v.reaches(&here, &here));
}

/// Every cell with a point within the radius of `center` is covered:
/// points on 48 bearings at distances up to the radius, their cells
/// looked up in the covering (and the covering within its bound).
fn assert_covers_the_circle(v: &Vicinity, center: &GeoPoint) -> Covering {
    let cells = v.cells(center);
    assert!(
        cells.len() <= MAX_COVERING_CELLS,
        "{center:?}: {}",
        cells.len()
    );
    let km = v.radius.km();
    for step in 0..48 {
        let bearing = f64::from(step) * 7.5;
        for fraction in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.9999] {
            let p = center.toward(bearing, km * fraction);
            assert!(v.reaches(center, &p) || fraction > 0.999);
            assert!(
                cells.covers(&region(&p)),
                "{center:?}: {p:?} ({bearing}°, {:.3} km) is in {} which is not covered",
                km * fraction,
                region(&p)
            );
        }
    }
    cells
}

#[test]
fn a_circle_is_covered_by_the_cells_it_touches_and_no_far_one() {
    let v = vicinity(5_000);
    let berlin = point(52.52, 13.40);
    let cells = assert_covers_the_circle(&v, &berlin);
    // At mid-latitudes, the cells are at the precision: about 3 × 4.9 km
    // here, so a 10 km wide circle touches 4 to 5 columns and 3 to 4 rows.
    assert!((9..=25).contains(&cells.len()), "{}", cells.len());
    assert!(cells.cells().all(|cell| cell.as_str().len() == 5));
    assert!(cells.covers(&region(&berlin)));
    // A cell whose nearest point is farther than the radius is left out.
    for bearing in [0.0, 90.0, 180.0, 270.0] {
        let far = berlin.toward(bearing, 5.0 + 7.0);
        assert!(!cells.covers(&region(&far)), "{far:?}");
    }
}

#[test]
fn a_provider_100_m_away_across_a_cell_border_is_within_reach_both_ways() {
    let v = vicinity(5_000);
    let cell = Region::parse("u33db").unwrap();
    let (south, north, _, east) = cell.bounds();
    // 50 m either side of the cell's eastern border.
    let border = point((south + north) / 2.0, east);
    let pickup = border.toward(270.0, 0.05);
    let unicorn = border.toward(90.0, 0.05);
    assert_eq!(region(&pickup), cell);
    assert_ne!(region(&unicorn), cell, "across the border");
    let d = pickup.distance_km(&unicorn);
    assert!((d - 0.1).abs() < 0.000_01, "{d} km");
    assert!(v.reaches(&pickup, &unicorn));
    // The producer finds the unicorn in a cell around the pickup; the
    // unicorn's adapter reads the pickup's cell.
    assert!(v.cells(&pickup).covers(&region(&unicorn)));
    assert!(v.cells(&unicorn).covers(&region(&pickup)));
    // Just beyond the radius: not reached.
    let beyond = pickup.toward(90.0, 5.01);
    assert!(!v.reaches(&pickup, &beyond));
}

#[test]
fn across_the_antimeridian_longitudes_wrap() {
    let v = vicinity(5_000);
    let east = point(0.0, 179.99);
    let west = point(0.0, -179.99);
    assert!((east.distance_km(&west) - 2.224).abs() < 0.001);
    assert!(v.reaches(&east, &west));
    // Geohashes of the two sides have nothing in common.
    assert_ne!(region(&east).as_str()[..1], region(&west).as_str()[..1]);
    assert!(v.cells(&east).covers(&region(&west)));
    assert!(v.cells(&west).covers(&region(&east)));
    for center in [
        east,
        west,
        point(45.0, 180.0),
        point(-30.0, -180.0),
        point(65.5, 179.999),
    ] {
        assert_covers_the_circle(&v, &center);
    }
}

#[test]
fn near_the_poles_every_longitude_the_circle_takes_in_is_covered() {
    let v = vicinity(5_000);
    // 11 km from the pole, a 5 km circle spans some 53 degrees of longitude.
    let near = point(89.9, 0.0);
    let twenty_east = point(89.9, 20.0);
    assert!(
        v.reaches(&near, &twenty_east),
        "{}",
        near.distance_km(&twenty_east)
    );
    assert!(v.cells(&near).covers(&region(&twenty_east)));
    // 1.1 km from the pole, the circle takes in the pole and every
    // longitude: too many cells at the precision, so coarser ones.
    let closer = point(89.99, 0.0);
    let opposite = point(89.99, 180.0);
    assert!(v.reaches(&closer, &opposite));
    let cells = assert_covers_the_circle(&v, &closer);
    assert!(cells.covers(&region(&opposite)));
    assert!(cells.cells().all(|cell| cell.as_str().len() < 5), "coarser");
    for center in [
        near,
        closer,
        point(90.0, 0.0),
        point(-90.0, 123.0),
        point(-89.97, -179.99),
        point(-89.5, 60.0),
    ] {
        assert_covers_the_circle(&v, &center);
    }
}

#[test]
fn coverings_stay_bounded_and_right_for_any_radius_precision_and_place() {
    // A fixed pseudo-random walk over the globe (no seed to forget).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for round in 0..60 {
        let center = point(next() * 180.0 - 90.0, next() * 360.0 - 180.0);
        let metres = [100, 1_000, 5_000, 20_000, MAX_RADIUS_M][round % 5];
        let chars = [4, 5, 6, 7][round % 4];
        let v = Vicinity {
            radius: Radius::new(metres).unwrap(),
            precision: RegionPrecision::new(chars).unwrap(),
        };
        let cells = v.cells(&center);
        assert!(cells.len() <= MAX_COVERING_CELLS);
        for step in 0..24 {
            let p = center.toward(f64::from(step) * 15.0, v.radius.km() * next());
            let cell = Region::of(&p, v.precision);
            assert!(
                cells.covers(&cell),
                "{center:?} {metres} m at {chars}: {p:?} in {cell}"
            );
        }
    }
}

#[test]
fn a_covering_of_coarse_cells_covers_the_finer_ones_within() {
    let mut cells = Covering::default();
    assert!(cells.is_empty() && !cells.covers(&Region::parse("u33db").unwrap()));
    cells.extend(vicinity(1_000).cells(&point(52.52, 13.40)));
    let mut coarse = Covering::default();
    coarse.0.insert(Region::parse("u3").unwrap());
    cells.extend(coarse);
    assert!(cells.covers(&Region::parse("u3zzz").unwrap()));
    assert!(cells.covers(&Region::parse("u33db").unwrap()));
    assert!(!cells.covers(&Region::parse("u4").unwrap()));
    assert!(
        !cells.covers(&Region::parse("u").unwrap()),
        "a coarser region is not within"
    );
}
