//! The simulated fleet: unicorns with positions, temperaments and a price
//! model. Pure: the worker decides when to answer, this decides what.

use crate::FleetSettings;
use chrono::Utc;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rfq_core::{
    Answer, Covering, GeoPoint, Price, ProviderHeartbeat, ProviderId, ProviderStatus, Region,
    Reply, Rfq, Vicinity,
};
use std::{collections::HashMap, time::Duration};

/// Average speed used for pickup ETAs, km/h.
const CITY_SPEED_KMH: f64 = 25.0;

/// One simulated unicorn.
#[derive(Debug, Clone)]
pub struct Unicorn {
    /// Its provider id.
    pub id: ProviderId,
    /// Where it waits.
    pub position: GeoPoint,
    /// Its region.
    pub region: Region,
    /// Never answers.
    pub silent: bool,
    /// Price factor of this unicorn (0.85 to 1.15).
    pub greed: f64,
    /// The HTTP partner hosting it, named as its heartbeats' `adapter`;
    /// `None` for a simulated unicorn (named by its adapter's name).
    pub host: Option<String>,
}

impl Unicorn {
    /// Its registration, sent by the adapter `adapter`.
    pub fn heartbeat(
        &self,
        adapter: &str,
        status: ProviderStatus,
        valid_for: Duration,
    ) -> ProviderHeartbeat {
        ProviderHeartbeat {
            provider: self.id.clone(),
            adapter: self.host.as_deref().unwrap_or(adapter).to_owned(),
            region: self.region.clone(),
            position: self.position,
            status,
            at: Utc::now(),
            valid_for,
        }
    }

    /// A unicorn of the HTTP partner `partner`: it answers what its
    /// partner answers.
    pub fn hosted(id: ProviderId, position: GeoPoint, region: Region, partner: &str) -> Unicorn {
        Unicorn {
            id,
            position,
            region,
            silent: false,
            greed: 1.0,
            host: Some(partner.to_owned()),
        }
    }
}

/// A fleet of unicorns, and the regions whose RFQs may be addressed to them.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// How the fleet was generated and behaves.
    settings: FleetSettings,
    /// Every unicorn.
    unicorns: Vec<Unicorn>,
    /// Indices into `unicorns`, by id.
    by_id: HashMap<ProviderId, usize>,
    /// The regions within the vicinity radius of some unicorn: an RFQ from
    /// anywhere else is addressed to none of them.
    reach: Covering,
}

/// What a unicorn does with an RFQ.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Send `answer` after `after`.
    Answer {
        /// Think time.
        after: Duration,
        /// The answer.
        answer: Answer,
    },
    /// Say nothing.
    Silence,
}

impl Fleet {
    /// Places `per_region` unicorns uniformly in each region of the block
    /// around the centre (deterministic for a seed); regions are cut at
    /// the pipeline's precision, and the fleet reads the RFQs of every
    /// region within the pipeline's radius of one of its unicorns.
    pub fn generate(adapter: &str, settings: &FleetSettings, vicinity: &Vicinity) -> Fleet {
        let precision = vicinity.precision;
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let centre = Region::of(&settings.center, precision);
        let mut unicorns = Vec::new();
        for region in centre.block(settings.ring) {
            let (south, north, west, east) = region.bounds();
            for index in 0..settings.per_region {
                let lat = rng.random_range(south..north);
                let lon = rng.random_range(west..east);
                let Ok(position) = GeoPoint::new(lat, lon) else {
                    continue;
                };
                let id = format!("{adapter}-{region}-{:02}", index + 1);
                let Ok(id) = ProviderId::parse(&id) else {
                    continue;
                };
                unicorns.push(Unicorn {
                    id,
                    region: Region::of(&position, precision),
                    position,
                    silent: index < settings.silent_per_region,
                    greed: rng.random_range(0.85..1.15),
                    host: None,
                });
            }
        }
        Fleet::of(settings, unicorns, vicinity)
    }

    /// A fleet of these unicorns (an HTTP partner's, say), reading the RFQs
    /// of every region within the pipeline's radius of one of them.
    pub fn of(settings: &FleetSettings, unicorns: Vec<Unicorn>, vicinity: &Vicinity) -> Fleet {
        let mut by_id = HashMap::new();
        let mut reach = Covering::default();
        for (index, unicorn) in unicorns.iter().enumerate() {
            by_id.insert(unicorn.id.clone(), index);
            reach.extend(vicinity.cells(&unicorn.position));
        }
        Fleet {
            settings: settings.clone(),
            unicorns,
            by_id,
            reach,
        }
    }

    /// Whether `id` is one of its unicorns.
    pub fn has(&self, id: &ProviderId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Every unicorn.
    pub fn unicorns(&self) -> &[Unicorn] {
        &self.unicorns
    }

    /// Whether an RFQ picked up in `region` may be addressed to one of this
    /// fleet's unicorns (the region is within the radius of one).
    pub fn serves(&self, region: &str) -> bool {
        Region::parse(region).is_ok_and(|region| self.reach.covers(&region))
    }

    /// The unicorns of this fleet the RFQ is addressed to: the producer
    /// chose them, whatever their region.
    pub fn addressed<'a>(&'a self, rfq: &'a Rfq) -> impl Iterator<Item = &'a Unicorn> + 'a {
        rfq.addressed
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .map(|index| &self.unicorns[*index])
    }

    /// What `unicorn` does with `rfq`.
    pub fn plan(&self, unicorn: &Unicorn, rfq: &Rfq, rng: &mut impl Rng) -> Plan {
        if unicorn.silent {
            return Plan::Silence;
        }
        let s = &self.settings;
        let (low, high) = (
            s.latency_min_ms.min(s.latency_max_ms),
            s.latency_max_ms.max(s.latency_min_ms),
        );
        let after = Duration::from_millis(rng.random_range(low..=high));
        let reply = if rng.random_bool(s.decline_rate.clamp(0.0, 1.0)) {
            Reply::Declined {
                reason: "busy".into(),
            }
        } else {
            let ride_km = rfq.from.distance_km(&rfq.to);
            let pickup_km = unicorn.position.distance_km(&rfq.from);
            let fare = (s.base_fare_minor as f64 + s.per_km_minor as f64 * ride_km) * unicorn.greed;
            match Price::new((fare.round() as i64).max(1), s.currency.clone()) {
                Ok(price) => Reply::Quoted {
                    price,
                    pickup_eta_seconds: ((pickup_km / CITY_SPEED_KMH * 3600.0) as u32).max(60),
                },
                Err(_) => Reply::Declined {
                    reason: "ride too long".into(),
                },
            }
        };
        Plan::Answer {
            after,
            answer: Answer {
                rfq: rfq.id,
                provider: unicorn.id.clone(),
                responded_at: Utc::now() + chrono::Duration::from_std(after).unwrap_or_default(),
                reply,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::{CorrelationId, CustomerId, ReturnAddress};

    fn rfq_for(fleet: &Fleet, region: &Region) -> Rfq {
        let (south, north, west, east) = region.bounds();
        let from = GeoPoint::new((south + north) / 2.0, (west + east) / 2.0).unwrap();
        Rfq {
            id: CorrelationId::new_random(),
            customer: CustomerId::parse("c").unwrap(),
            region: region.clone(),
            from,
            to: from.offset_km(3.0, 4.0),
            created_at: Utc::now(),
            deadline: Utc::now(),
            addressed: fleet.unicorns().iter().map(|u| u.id.clone()).collect(),
            radius: Some(Vicinity::DEFAULT.radius),
            return_address: ReturnAddress {
                topic: "q".into(),
                partition: 0,
            },
            completion: Default::default(),
        }
    }

    #[test]
    fn fleet_covers_the_block_and_is_deterministic() {
        let settings = FleetSettings::default();
        let fleet = Fleet::generate("berlin", &settings, &Vicinity::DEFAULT);
        assert_eq!(fleet.unicorns().len(), 9 * settings.per_region);
        let again = Fleet::generate("berlin", &settings, &Vicinity::DEFAULT);
        assert_eq!(fleet.unicorns()[5].position, again.unicorns()[5].position);
        let centre = Region::of(&settings.center, Vicinity::DEFAULT.precision);
        assert!(fleet.serves(centre.as_str()));
        assert!(!fleet.serves("u0"));
        assert!(
            fleet
                .unicorns()
                .iter()
                .all(|u| u.region.contains(&u.position))
        );
    }

    #[test]
    fn only_addressed_unicorns_answer() {
        let settings = FleetSettings {
            ring: 0,
            per_region: 3,
            silent_per_region: 1,
            decline_rate: 0.0,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, &Vicinity::DEFAULT);
        let region = fleet.unicorns()[0].region.clone();
        let mut rfq = rfq_for(&fleet, &region);
        rfq.addressed.remove(&fleet.unicorns()[2].id);
        let addressed: Vec<_> = fleet.addressed(&rfq).collect();
        assert_eq!(addressed.len(), 2);
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            fleet.plan(addressed[0], &rfq, &mut rng),
            Plan::Silence,
            "first unicorn is silent"
        );
        let Plan::Answer { after, answer } = fleet.plan(addressed[1], &rfq, &mut rng) else {
            panic!()
        };
        assert!(after >= Duration::from_millis(100) && after <= Duration::from_millis(800));
        let Reply::Quoted {
            price,
            pickup_eta_seconds,
        } = answer.reply
        else {
            panic!()
        };
        // 5 km ride: 3.90 + 5 × 2.00 = 13.90 EUR, ±15 % temperament.
        assert!((1181..=1599).contains(&price.minor()), "{price}");
        assert!(pickup_eta_seconds >= 60);
    }

    #[test]
    fn the_fleet_reads_the_regions_within_the_radius_of_its_unicorns_only() {
        let settings = FleetSettings {
            ring: 0,
            per_region: 3,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, &Vicinity::DEFAULT);
        let centre = Region::of(&settings.center, Vicinity::DEFAULT.precision);
        let (south, north, west, east) = centre.bounds();
        let (lat, width) = ((south + north) / 2.0, east - west);
        let region_at = |lon: f64| {
            Region::of(
                &GeoPoint::new(lat, lon).unwrap(),
                Vicinity::DEFAULT.precision,
            )
        };
        // The neighbours east and west hold no unicorn but are within
        // 5 km of some; the regions three cells away (some 6 km beyond the
        // unicorns' region, at 3 km a cell here) are not.
        assert!(fleet.unicorns().iter().all(|u| u.region == centre));
        for lon in [east + width / 2.0, west - width / 2.0] {
            assert!(fleet.serves(region_at(lon).as_str()), "{}", region_at(lon));
        }
        for lon in [east + 2.5 * width, west - 2.5 * width] {
            assert!(!fleet.serves(region_at(lon).as_str()), "{}", region_at(lon));
        }
        // Every pickup within the radius of a unicorn is in a region read.
        for unicorn in fleet.unicorns() {
            for step in 0..36 {
                let bearing = f64::from(step) * 10.0_f64.to_radians();
                let (north_km, east_km) = (4.9 * bearing.cos(), 4.9 * bearing.sin());
                let pickup = unicorn.position.offset_km(north_km, east_km);
                assert!(Vicinity::DEFAULT.reaches(&unicorn.position, &pickup));
                let region = Region::of(&pickup, Vicinity::DEFAULT.precision);
                assert!(fleet.serves(region.as_str()), "{pickup:?} in {region}");
            }
        }
    }

    #[test]
    fn an_rfq_from_another_region_is_answered_by_the_unicorns_it_addresses() {
        let settings = FleetSettings {
            ring: 0,
            per_region: 2,
            decline_rate: 0.0,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, &Vicinity::DEFAULT);
        let (_, _, _, east) = fleet.unicorns()[0].region.bounds();
        let pickup = GeoPoint::new(fleet.unicorns()[0].position.lat(), east + 0.001).unwrap();
        let region = Region::of(&pickup, Vicinity::DEFAULT.precision);
        assert_ne!(region, fleet.unicorns()[0].region);
        let mut rfq = rfq_for(&fleet, &region).picked_up_at(pickup);
        rfq.addressed = [fleet.unicorns()[1].id.clone()].into();
        let addressed: Vec<_> = fleet.addressed(&rfq).map(|u| &u.id).collect();
        assert_eq!(addressed, [&fleet.unicorns()[1].id]);
    }

    #[test]
    fn decline_rate_one_always_declines() {
        let settings = FleetSettings {
            ring: 0,
            decline_rate: 1.0,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, &Vicinity::DEFAULT);
        let rfq = rfq_for(&fleet, &fleet.unicorns()[0].region);
        let mut rng = StdRng::seed_from_u64(7);
        for unicorn in fleet.addressed(&rfq) {
            let Plan::Answer { answer, .. } = fleet.plan(unicorn, &rfq, &mut rng) else {
                panic!()
            };
            assert!(matches!(answer.reply, Reply::Declined { .. }));
        }
    }
}
