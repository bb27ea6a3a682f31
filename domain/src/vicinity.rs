//! Vicinity: which providers an RFQ is addressed to, and which cells' RFQs
//! a provider must read.
//!
//! An RFQ is addressed to the providers within a radius of its pickup point
//! (great-circle distance), whatever geohash cell they are in: a unicorn
//! 100 m away across a cell border is asked like one in the pickup's cell.
//! Cells stay the unit of routing: the requests topic is keyed by the
//! pickup's cell, and the producer's registry indexes providers by cell. So
//! both sides need the cells a circle touches. The producer visits the cells
//! around a pickup to find the providers there; an adapter reads the RFQs of
//! the cells around each of its unicorns, since an RFQ from any of them may
//! be addressed to it. [`Vicinity::cells`] is that one function for both, so
//! they cannot disagree: a provider within the radius of a pickup lies in a
//! cell the pickup's circle touches, and the pickup lies in a cell the
//! provider's circle touches (the distance is symmetric).
//!
//! The covering descends the geohash tree from its 32 top cells, keeping
//! the cells whose nearest point is within the radius. The distance to a
//! cell is exact on the sphere, so the covering is right across cell
//! borders, across the antimeridian (where longitudes wrap) and near the
//! poles (where a circle may take in every longitude). Where the cells at
//! the pipeline's precision would be too many, the descent stops one level
//! coarser, with fewer and larger cells that each stand for every finer
//! cell inside ([`Covering::covers`]). Near a pole a cell is a sliver a few
//! hundred metres wide, and a circle around the pole touches all 8,192 cells
//! of a row. A covering never holds more than [`MAX_COVERING_CELLS`] cells,
//! whatever the radius, precision and place.

use super::{DomainError, GeoPoint, Region, RegionPrecision};
use std::{collections::BTreeSet, fmt, str::FromStr};

/// The largest vicinity radius, in metres (100 km). A unicorn farther away
/// than that cannot pick a customer up in time. The number of cells
/// visited does not depend on it (see [`MAX_COVERING_CELLS`]).
pub const MAX_RADIUS_M: u32 = 100_000;

/// The most cells a [`Covering`] holds. The 5 km default at the default
/// precision takes about 20 cells at mid-latitudes, and 1,024 leave room
/// for radii of about 50 km before the covering coarsens.
pub const MAX_COVERING_CELLS: usize = 1024;

/// Added to the radius when deciding whether a cell is touched, so that
/// rounding never drops a cell holding a point at exactly the radius
/// (one more cell read is harmless; one missed is a provider never asked).
const SLACK_KM: f64 = 0.001;

/// How far from the pickup point a provider may be to be asked for a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Radius(u32);

impl Radius {
    /// The default radius: 5 km, about a cell at the default precision
    /// around the pickup, some minutes' drive in a city.
    pub const DEFAULT: Radius = Radius(5_000);

    /// A radius of 1 to [`MAX_RADIUS_M`] metres.
    pub fn new(metres: u32) -> Result<Radius, DomainError> {
        if (1..=MAX_RADIUS_M).contains(&metres) {
            Ok(Radius(metres))
        } else {
            Err(DomainError::new(
                "vicinity-radius-m",
                format!("must be 1 to {MAX_RADIUS_M} metres, got {metres}"),
            ))
        }
    }

    /// The radius in metres.
    pub fn metres(self) -> u32 {
        self.0
    }

    /// The radius in kilometres.
    pub fn km(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl Default for Radius {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The radius in metres, as settings write it.
impl fmt::Display for Radius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Metres, as settings write them (`--vicinity-radius-m 5000`).
impl FromStr for Radius {
    type Err = DomainError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let metres = text.trim().parse::<u32>().map_err(|_| {
            DomainError::new(
                "vicinity-radius-m",
                format!("not a whole number of metres: {text:?}"),
            )
        })?;
        Self::new(metres)
    }
}

/// Who is near whom: within `radius`, found through the cells at
/// `precision`. Every role of a pipeline uses the same one
/// (`PipelineSettings::vicinity` in `rfq-core`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vicinity {
    /// How far a provider may be from the pickup point.
    pub radius: Radius,
    /// The cells RFQs are keyed by and providers indexed by.
    pub precision: RegionPrecision,
}

impl Vicinity {
    /// The default radius at the default precision (the settings' defaults).
    pub const DEFAULT: Vicinity = Vicinity {
        radius: Radius::DEFAULT,
        precision: RegionPrecision::DEFAULT,
    };

    /// Whether `a` and `b` are within the radius of each other.
    pub fn reaches(&self, a: &GeoPoint, b: &GeoPoint) -> bool {
        a.distance_km(b) <= self.radius.km()
    }

    /// The cells that the circle of the radius around `center` touches:
    /// those at the precision, or coarser ones where those would be more
    /// than [`MAX_COVERING_CELLS`] (see the module docs).
    pub fn cells(&self, center: &GeoPoint) -> Covering {
        let reach = self.radius.km() + SLACK_KM;
        let near = |cell: &Region| distance_to_cell_km(center, cell) <= reach;
        let mut level: Vec<Region> = Region::world().filter(near).collect();
        for _ in 1..self.precision.chars() {
            let mut finer = Vec::new();
            for cell in &level {
                finer.extend(cell.children().filter(near));
                if finer.len() > MAX_COVERING_CELLS {
                    return Covering(level.into_iter().collect());
                }
            }
            level = finer;
        }
        Covering(level.into_iter().collect())
    }
}

/// A set of cells, possibly of several sizes: what a circle touches
/// ([`Vicinity::cells`]), or the union of several circles (an adapter's
/// fleet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Covering(BTreeSet<Region>);

impl Covering {
    /// Whether `region` lies in one of the cells: is one of them, or
    /// within a coarser one.
    pub fn covers(&self, region: &Region) -> bool {
        let name = region.as_str();
        (1..=name.len()).any(|len| self.0.contains(&name[..len]))
    }

    /// The cells, in geohash order.
    pub fn cells(&self) -> impl Iterator<Item = &Region> {
        self.0.iter()
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the cells of `other`.
    pub fn extend(&mut self, other: Covering) {
        self.0.extend(other.0);
    }
}

/// Great-circle distance in kilometres from `point` to the nearest point of
/// `cell` (0 inside it).
///
/// Outside, the nearest point lies on the cell's edge. On a parallel edge
/// it is the one on the point's meridian if the cell spans that meridian,
/// and otherwise a corner. On a meridian edge (longitude λ), the cosine of
/// the distance to the edge point at latitude φ is A·sin φ + B·cos φ
/// (A = sin φₚ, B = cos φₚ·cos(λ − λₚ)). That is largest at
/// φ = atan2(A, B) if the edge reaches that far, and otherwise at an end of
/// the edge. The haversine formula wraps longitudes by itself, so a cell
/// across the antimeridian from the point is measured the short way round.
fn distance_to_cell_km(point: &GeoPoint, cell: &Region) -> f64 {
    let (south, north, west, east) = cell.bounds();
    let (lat, lon) = (point.lat(), point.lon());
    let spans_meridian = (west..=east).contains(&lon);
    if spans_meridian && (south..=north).contains(&lat) {
        return 0.0;
    }
    let to = |lat: f64, lon: f64| {
        GeoPoint::new(lat, lon).map_or(f64::INFINITY, |edge| point.distance_km(&edge))
    };
    let mut nearest = f64::INFINITY;
    if spans_meridian {
        nearest = to(lat.clamp(south, north), lon);
    }
    for edge in [west, east] {
        let (phi, dlon) = (lat.to_radians(), (edge - lon).to_radians());
        let peak = phi.sin().atan2(phi.cos() * dlon.cos()).to_degrees();
        for candidate in [south, north, peak] {
            if (south..=north).contains(&candidate) {
                nearest = nearest.min(to(candidate, edge));
            }
        }
    }
    nearest
}

#[cfg(test)]
mod tests;
