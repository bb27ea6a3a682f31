//! The simulated fleet: unicorns with positions, temperaments and a price
//! model. Pure: the worker decides when to answer, this decides what.

use crate::FleetSettings;
use chrono::Utc;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rfq_core::{
    Answer, GeoPoint, Price, ProviderHeartbeat, ProviderId, ProviderStatus, Region,
    RegionPrecision, Reply, Rfq,
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
}

/// A fleet of unicorns, indexed by region.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// How the fleet was generated and behaves.
    settings: FleetSettings,
    /// Every unicorn.
    unicorns: Vec<Unicorn>,
    /// Indices into `unicorns`, by the region they serve.
    by_region: HashMap<Region, Vec<usize>>,
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
    /// the pipeline's `precision`.
    pub fn generate(adapter: &str, settings: &FleetSettings, precision: RegionPrecision) -> Fleet {
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
                });
            }
        }
        let mut by_region: HashMap<Region, Vec<usize>> = HashMap::new();
        for (index, unicorn) in unicorns.iter().enumerate() {
            by_region
                .entry(unicorn.region.clone())
                .or_default()
                .push(index);
        }
        Fleet {
            settings: settings.clone(),
            unicorns,
            by_region,
        }
    }

    /// Every unicorn.
    pub fn unicorns(&self) -> &[Unicorn] {
        &self.unicorns
    }

    /// Whether some unicorn of this fleet is in `region`.
    pub fn serves(&self, region: &str) -> bool {
        Region::parse(region).is_ok_and(|region| self.by_region.contains_key(&region))
    }

    /// The unicorns of this fleet the RFQ is addressed to.
    pub fn addressed<'a>(&'a self, rfq: &'a Rfq) -> impl Iterator<Item = &'a Unicorn> + 'a {
        self.by_region
            .get(&rfq.region)
            .into_iter()
            .flatten()
            .map(|index| &self.unicorns[*index])
            .filter(|unicorn| rfq.addressed.contains(&unicorn.id))
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

    /// The registration of `unicorn`.
    pub fn heartbeat(
        &self,
        adapter: &str,
        unicorn: &Unicorn,
        status: ProviderStatus,
        valid_for: Duration,
    ) -> ProviderHeartbeat {
        ProviderHeartbeat {
            provider: unicorn.id.clone(),
            adapter: adapter.to_owned(),
            region: unicorn.region.clone(),
            position: unicorn.position,
            status,
            at: Utc::now(),
            valid_for,
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
        let fleet = Fleet::generate("berlin", &settings, RegionPrecision::DEFAULT);
        assert_eq!(fleet.unicorns().len(), 9 * settings.per_region);
        let again = Fleet::generate("berlin", &settings, RegionPrecision::DEFAULT);
        assert_eq!(fleet.unicorns()[5].position, again.unicorns()[5].position);
        let centre = Region::of(&settings.center, RegionPrecision::DEFAULT);
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
    fn only_addressed_unicorns_of_the_rfq_region_answer() {
        let settings = FleetSettings {
            ring: 0,
            per_region: 3,
            silent_per_region: 1,
            decline_rate: 0.0,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, RegionPrecision::DEFAULT);
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
    fn decline_rate_one_always_declines() {
        let settings = FleetSettings {
            ring: 0,
            decline_rate: 1.0,
            ..FleetSettings::default()
        };
        let fleet = Fleet::generate("t", &settings, RegionPrecision::DEFAULT);
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
