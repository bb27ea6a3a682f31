use super::DomainError;
use serde::{Deserialize, Serialize};

/// A point on Earth (WGS 84 degrees), checked to be finite and in range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoint", into = "RawPoint")]
pub struct GeoPoint {
    /// Latitude, −90 to 90 degrees.
    lat: f64,
    /// Longitude, −180 to 180 degrees.
    lon: f64,
}

/// The unchecked shape of a point, as it arrives in JSON.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    /// Latitude as sent.
    lat: f64,
    /// Longitude as sent.
    lon: f64,
}

impl TryFrom<RawPoint> for GeoPoint {
    type Error = DomainError;
    fn try_from(raw: RawPoint) -> Result<Self, Self::Error> {
        Self::new(raw.lat, raw.lon)
    }
}

impl From<GeoPoint> for RawPoint {
    fn from(point: GeoPoint) -> Self {
        RawPoint {
            lat: point.lat,
            lon: point.lon,
        }
    }
}

/// `LAT,LON` in degrees, as settings write a point (`--fleet-center 52.52,13.40`).
impl std::str::FromStr for GeoPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (lat, lon) = text
            .split_once(',')
            .ok_or_else(|| format!("expected LAT,LON, got {text:?}"))?;
        let lat = lat
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("latitude: {e}"))?;
        let lon = lon
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("longitude: {e}"))?;
        GeoPoint::new(lat, lon).map_err(|e| e.to_string())
    }
}

impl GeoPoint {
    /// Mean Earth radius used by [`GeoPoint::distance_km`].
    const EARTH_RADIUS_KM: f64 = 6371.0088;

    /// A point from latitude and longitude in degrees.
    pub fn new(lat: f64, lon: f64) -> Result<Self, DomainError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(DomainError::new(
                "lat",
                format!("latitude must be between -90 and 90 degrees, got {lat}"),
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(DomainError::new(
                "lon",
                format!("longitude must be between -180 and 180 degrees, got {lon}"),
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle (haversine) distance in kilometres.
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * Self::EARTH_RADIUS_KM * a.sqrt().asin()
    }

    /// The point `km` away on the initial bearing `degrees` (clockwise
    /// from north), along the great circle: exact on the sphere, near the
    /// poles and across the antimeridian too.
    pub fn toward(&self, degrees: f64, km: f64) -> GeoPoint {
        let delta = km / Self::EARTH_RADIUS_KM;
        let (phi, theta) = (self.lat.to_radians(), degrees.to_radians());
        let lat = (phi.sin() * delta.cos() + phi.cos() * delta.sin() * theta.cos())
            .clamp(-1.0, 1.0)
            .asin();
        let dlon =
            (theta.sin() * delta.sin() * phi.cos()).atan2(delta.cos() - phi.sin() * lat.sin());
        let lon = (self.lon + dlon.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
        GeoPoint {
            lat: lat.to_degrees().clamp(-90.0, 90.0),
            lon,
        }
    }

    /// The point `north_km` north and `east_km` east of this one (flat-earth
    /// approximation, good for the few kilometres of a simulated fleet).
    pub fn offset_km(&self, north_km: f64, east_km: f64) -> GeoPoint {
        let lat = (self.lat + north_km / 110.574).clamp(-90.0, 90.0);
        let lon_km_per_degree = 111.320 * self.lat.to_radians().cos().max(1e-6);
        let lon = ((self.lon + east_km / lon_km_per_degree + 540.0) % 360.0) - 180.0;
        GeoPoint { lat, lon }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_and_non_finite() {
        assert!(GeoPoint::new(90.1, 0.0).is_err());
        assert!(GeoPoint::new(-90.1, 0.0).is_err());
        assert!(GeoPoint::new(0.0, 180.5).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(GeoPoint::new(0.0, f64::INFINITY).is_err());
        assert_eq!(GeoPoint::new(0.0, 181.0).unwrap_err().field, "lon");
        assert!(GeoPoint::new(90.0, -180.0).is_ok());
    }

    #[test]
    fn distance_berlin_to_potsdam() {
        let berlin = GeoPoint::new(52.5200, 13.4050).unwrap();
        let potsdam = GeoPoint::new(52.3906, 13.0645).unwrap();
        let d = berlin.distance_km(&potsdam);
        assert!((d - 26.9).abs() < 0.5, "got {d}");
    }

    #[test]
    fn distance_matches_known_values() {
        let km = |a: (f64, f64), b: (f64, f64)| {
            GeoPoint::new(a.0, a.1)
                .unwrap()
                .distance_km(&GeoPoint::new(b.0, b.1).unwrap())
        };
        // Big Ben to the Statue of Liberty: 5,574.8 km on the mean sphere.
        let d = km((51.5007, -0.1246), (40.6892, -74.0445));
        assert!((d - 5574.8).abs() < 0.5, "{d}");
        // A degree of latitude: 2π·6371.0088 km / 360.
        assert!((km((10.0, 20.0), (11.0, 20.0)) - 111.195).abs() < 0.001);
        // Across the antimeridian the short way (0.02° of the equator) ...
        assert!((km((0.0, 179.99), (0.0, -179.99)) - 2.2239).abs() < 0.0005);
        // ... and across the pole (0.2° of a meridian).
        assert!((km((89.9, 0.0), (89.9, 180.0)) - 22.239).abs() < 0.001);
        assert_eq!(km((52.52, 13.4), (52.52, 13.4)), 0.0);
        // Symmetric to the last bit: producer and adapters measure both ways.
        let (a, b) = ((52.5163, 13.3777), (52.4, 13.06));
        assert_eq!(km(a, b), km(b, a));
    }

    #[test]
    fn toward_goes_the_distance_on_the_bearing() {
        let here = GeoPoint::new(52.52, 13.40).unwrap();
        for bearing in [0.0, 45.0, 90.0, 200.0, 359.0] {
            let there = here.toward(bearing, 4.0);
            assert!((here.distance_km(&there) - 4.0).abs() < 1e-9, "{bearing}");
        }
        assert!(here.toward(0.0, 1.0).lat() > here.lat());
        assert!(here.toward(90.0, 1.0).lon() > here.lon());
        // Over the pole, onto the opposite meridian; across the antimeridian.
        let over = GeoPoint::new(89.99, 0.0).unwrap().toward(0.0, 2.0);
        assert!(
            (over.lon().abs() - 180.0).abs() < 1e-6 && over.lat() < 90.0,
            "{over:?}"
        );
        let across = GeoPoint::new(0.0, 179.99).unwrap().toward(90.0, 2.2239);
        assert!((across.lon() + 179.99).abs() < 1e-4, "{across:?}");
    }

    #[test]
    fn json_checks_range_and_unknown_fields() {
        assert!(serde_json::from_str::<GeoPoint>(r#"{"lat": 52.5, "lon": 13.4}"#).is_ok());
        assert!(serde_json::from_str::<GeoPoint>(r#"{"lat": 95, "lon": 13.4}"#).is_err());
        assert!(serde_json::from_str::<GeoPoint>(r#"{"lat": 5, "lon": 1, "alt": 3}"#).is_err());
    }
}
