use super::{DomainError, GeoPoint};
use std::{borrow::Borrow, fmt, str::FromStr};

/// The geohash alphabet (base 32 without a, i, l, o).
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// How many geohash characters make a region: the cell size.
///
/// 4 ≈ 39 × 20 km, 5 ≈ 4.9 × 4.9 km, 6 ≈ 1.2 × 0.6 km. The default, 5, is a
/// district of a city: a unicorn in the same cell as the pickup point can be
/// there in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegionPrecision(u8);

impl RegionPrecision {
    /// The default cell size (5 characters, about 4.9 × 4.9 km).
    pub const DEFAULT: RegionPrecision = RegionPrecision(5);

    /// A precision of 1 to 12 geohash characters.
    pub fn new(chars: u8) -> Result<Self, DomainError> {
        if (1..=12).contains(&chars) {
            Ok(Self(chars))
        } else {
            Err(DomainError::new(
                "region-precision",
                format!("must be 1 to 12 geohash characters, got {chars}"),
            ))
        }
    }

    /// Number of geohash characters.
    pub fn chars(self) -> u8 {
        self.0
    }
}

impl Default for RegionPrecision {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for RegionPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RegionPrecision {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let chars = s.trim().parse::<u8>().map_err(|_| {
            DomainError::new(
                "region-precision",
                format!("not a number of characters: {s:?}"),
            )
        })?;
        Self::new(chars)
    }
}

/// A geographic cell, named by its geohash: the key of every RFQ on the
/// requests topic, and what an adapter subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// The cell of `point` at `precision`.
    pub fn of(point: &GeoPoint, precision: RegionPrecision) -> Region {
        let (mut lat_lo, mut lat_hi) = (-90.0_f64, 90.0_f64);
        let (mut lon_lo, mut lon_hi) = (-180.0_f64, 180.0_f64);
        let mut hash = String::with_capacity(usize::from(precision.0));
        let mut even_bit = true;
        let (mut bits, mut value) = (0_u8, 0_usize);
        while hash.len() < usize::from(precision.0) {
            let (lo, hi, coordinate) = if even_bit {
                (&mut lon_lo, &mut lon_hi, point.lon())
            } else {
                (&mut lat_lo, &mut lat_hi, point.lat())
            };
            let mid = (*lo + *hi) / 2.0;
            value <<= 1;
            if coordinate >= mid {
                value |= 1;
                *lo = mid;
            } else {
                *hi = mid;
            }
            even_bit = !even_bit;
            bits += 1;
            if bits == 5 {
                hash.push(char::from(BASE32[value]));
                bits = 0;
                value = 0;
            }
        }
        Region(hash)
    }

    /// A region name from outside (a Kafka key, a flag): 1 to 12 geohash characters.
    pub fn parse(name: &str) -> Result<Region, DomainError> {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.len() > 12 {
            return Err(DomainError::new(
                "region",
                format!("must be 1 to 12 geohash characters, got {name:?}"),
            ));
        }
        if let Some(bad) = name.bytes().find(|b| !BASE32.contains(b)) {
            return Err(DomainError::new(
                "region",
                format!("{:?} is not a geohash character", char::from(bad)),
            ));
        }
        Ok(Region(name))
    }

    /// The geohash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32 cells of one character, which tile the Earth.
    pub fn world() -> impl Iterator<Item = Region> {
        BASE32.iter().map(|c| Region(char::from(*c).to_string()))
    }

    /// The 32 cells one character finer that tile this one (none at 12
    /// characters, the finest).
    pub fn children(&self) -> impl Iterator<Item = Region> + '_ {
        let more = self.0.len() < 12;
        BASE32
            .iter()
            .filter(move |_| more)
            .map(|c| Region(format!("{}{}", self.0, char::from(*c))))
    }

    /// Whether this cell lies within `cell` (is it, or one of its
    /// subdivisions: `cell`'s geohash is a prefix of this one's).
    pub fn is_within(&self, cell: &Region) -> bool {
        self.0.starts_with(&cell.0)
    }

    /// The cell's bounds: `(south, north, west, east)` in degrees.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let (mut lat_lo, mut lat_hi) = (-90.0_f64, 90.0_f64);
        let (mut lon_lo, mut lon_hi) = (-180.0_f64, 180.0_f64);
        let mut even_bit = true;
        for byte in self.0.bytes() {
            let value = BASE32.iter().position(|b| *b == byte).unwrap_or_default();
            for shift in (0..5).rev() {
                let bit = (value >> shift) & 1 == 1;
                let (lo, hi) = if even_bit {
                    (&mut lon_lo, &mut lon_hi)
                } else {
                    (&mut lat_lo, &mut lat_hi)
                };
                let mid = (*lo + *hi) / 2.0;
                if bit {
                    *lo = mid;
                } else {
                    *hi = mid;
                }
                even_bit = !even_bit;
            }
        }
        (lat_lo, lat_hi, lon_lo, lon_hi)
    }

    /// The cells `ring` steps around this one (a (2·ring+1)² block, this
    /// cell included), west to east, south to north.
    pub fn block(&self, ring: u8) -> Vec<Region> {
        let (south, north, west, east) = self.bounds();
        let (height, width) = (north - south, east - west);
        let (lat, lon) = ((south + north) / 2.0, (west + east) / 2.0);
        let precision = RegionPrecision(self.0.len() as u8);
        let ring = i32::from(ring);
        let mut cells = Vec::new();
        for dy in -ring..=ring {
            for dx in -ring..=ring {
                let cell_lat = lat + f64::from(dy) * height;
                let cell_lon = lon + f64::from(dx) * width;
                if let Ok(point) = GeoPoint::new(cell_lat, cell_lon) {
                    let cell = Region::of(&point, precision);
                    if !cells.contains(&cell) {
                        cells.push(cell);
                    }
                }
            }
        }
        cells
    }

    /// Whether `point` lies in this cell.
    pub fn contains(&self, point: &GeoPoint) -> bool {
        let precision = RegionPrecision(self.0.len() as u8);
        Region::of(point, precision) == *self
    }
}

/// A region is looked up by its geohash (in sets of cells).
impl Borrow<str> for Region {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }

    #[test]
    fn known_geohashes() {
        // Reference values from the geohash definition (Niemeyer's examples).
        let p = point(57.64911, 10.40744);
        assert_eq!(
            Region::of(&p, RegionPrecision::new(11).unwrap()).as_str(),
            "u4pruydqqvj"
        );
        let berlin = point(52.52, 13.40);
        assert_eq!(
            Region::of(&berlin, RegionPrecision::new(5).unwrap()).as_str(),
            "u33db"
        );
        assert_eq!(
            Region::of(&point(0.0, 0.0), RegionPrecision::new(1).unwrap()).as_str(),
            "s"
        );
    }

    #[test]
    fn precision_sets_cell_size_and_prefixes_nest() {
        let p = point(52.5163, 13.3777);
        let fine = Region::of(&p, RegionPrecision::new(7).unwrap());
        let coarse = Region::of(&p, RegionPrecision::new(4).unwrap());
        assert_eq!(fine.as_str().len(), 7);
        assert!(fine.as_str().starts_with(coarse.as_str()));
        assert!(fine.contains(&p) && coarse.contains(&p));
    }

    #[test]
    fn nearby_points_share_a_cell_and_far_ones_do_not() {
        let precision = RegionPrecision::DEFAULT;
        let a = Region::of(&point(52.5200, 13.4000), precision);
        let b = Region::of(&point(52.5210, 13.4010), precision);
        let munich = Region::of(&point(48.137, 11.575), precision);
        assert_eq!(a, b);
        assert_ne!(a, munich);
    }

    #[test]
    fn parse_checks_alphabet_and_length() {
        assert_eq!(Region::parse("U33DB").unwrap().as_str(), "u33db");
        assert!(Region::parse("").is_err());
        assert!(
            Region::parse("u33da").is_err(),
            "'a' is not in the geohash alphabet"
        );
        assert!(Region::parse("0123456789bcd").is_err());
        assert!("0".parse::<RegionPrecision>().is_err());
        assert_eq!("6".parse::<RegionPrecision>().unwrap().chars(), 6);
    }

    #[test]
    fn bounds_contain_the_point_and_blocks_surround_the_cell() {
        let p = point(52.52, 13.40);
        let cell = Region::of(&p, RegionPrecision::DEFAULT);
        let (south, north, west, east) = cell.bounds();
        assert!(south <= 52.52 && 52.52 < north && west <= 13.40 && 13.40 < east);
        assert!((north - south - 180.0 / 4096.0).abs() < 1e-9);
        let block = cell.block(1);
        assert_eq!(block.len(), 9);
        assert_eq!(block[4], cell, "the centre of the block is the cell itself");
        assert_eq!(cell.block(0), vec![cell.clone()]);
    }

    #[test]
    fn children_tile_their_cell() {
        assert_eq!(Region::world().count(), 32);
        let cell = Region::parse("u33d").unwrap();
        let children: Vec<Region> = cell.children().collect();
        assert_eq!(children.len(), 32);
        assert!(children.iter().all(|child| child.is_within(&cell)));
        assert!(children.contains(&Region::parse("u33db").unwrap()));
        assert!(!cell.is_within(&children[0]));
        assert_eq!(Region::parse("u33dbu33dbu3").unwrap().children().count(), 0);
    }
}
