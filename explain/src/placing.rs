//! Whom an RFQ was addressed to and why: each addressed provider placed by
//! a heartbeat from the providers topic, free of I/O ([`Placing`] is fed
//! the heartbeats in log order by the [`Explainer`](super::Explainer)).
//!
//! The heartbeat that placed a provider is its last one at or before
//! acceptance: the producer addressed the RFQ by it. But the providers
//! topic is compacted — it keeps the latest heartbeat per provider — so
//! once a newer heartbeat came, that one may be gone (the embedded broker
//! compacts every 10 minutes, Kafka once a segment rolls). Then the earliest
//! heartbeat kept after acceptance places the provider instead, and the
//! explanation says so ([`PlacedBy::FirstHeartbeatAfterAcceptance`], a
//! negative age) rather than claiming a heartbeat it did not read.

use super::Addressed;
use rfq_core::{ProviderHeartbeat, ProviderId, Rfq};
use serde::Serialize;
use std::collections::HashMap;

/// Which heartbeat placed an addressed provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacedBy {
    /// Its last heartbeat at or before acceptance: the one the RFQ was
    /// addressed by.
    LastHeartbeatBeforeAcceptance,
    /// That one was compacted away: its first heartbeat kept after
    /// acceptance (where it was then, not necessarily at acceptance).
    FirstHeartbeatAfterAcceptance,
}

/// The addressed providers of one RFQ being placed, heartbeat by heartbeat.
#[derive(Debug)]
pub struct Placing<'a> {
    /// The RFQ.
    rfq: &'a Rfq,
    /// Each addressed provider's last heartbeat at or before acceptance.
    before: HashMap<ProviderId, ProviderHeartbeat>,
    /// Each addressed provider's first heartbeat after acceptance.
    after: HashMap<ProviderId, ProviderHeartbeat>,
}

impl<'a> Placing<'a> {
    /// Nothing read yet.
    pub fn new(rfq: &'a Rfq) -> Placing<'a> {
        Placing {
            rfq,
            before: HashMap::new(),
            after: HashMap::new(),
        }
    }

    /// Feeds one heartbeat of the providers topic, in log order; those of
    /// providers the RFQ was not addressed to are passed over.
    pub fn feed(&mut self, heartbeat: ProviderHeartbeat) {
        if !self.rfq.addressed.contains(&heartbeat.provider) {
            return;
        }
        if heartbeat.at <= self.rfq.created_at {
            self.before.insert(heartbeat.provider.clone(), heartbeat);
        } else {
            self.after
                .entry(heartbeat.provider.clone())
                .or_insert(heartbeat);
        }
    }

    /// Whether reading on can change nothing: a record stamped `stamp` is
    /// past acceptance by `slack` (later records cannot be an earlier
    /// heartbeat) and every addressed provider is placed.
    pub fn done(&self, stamp: chrono::DateTime<chrono::Utc>, slack: chrono::Duration) -> bool {
        stamp > self.rfq.created_at + slack
            && self
                .rfq
                .addressed
                .iter()
                .all(|p| self.before.contains_key(p) || self.after.contains_key(p))
    }

    /// Every addressed provider, placed as well as the log allows.
    pub fn placed(&self) -> Vec<Addressed> {
        let rfq = self.rfq;
        rfq.addressed
            .iter()
            .map(|provider| {
                let found = match (self.before.get(provider), self.after.get(provider)) {
                    (Some(h), _) => Some((h, PlacedBy::LastHeartbeatBeforeAcceptance)),
                    (None, Some(h)) => Some((h, PlacedBy::FirstHeartbeatAfterAcceptance)),
                    (None, None) => None,
                };
                let heartbeat = found.map(|(h, _)| h);
                let distance_m =
                    heartbeat.map(|h| (h.position.distance_km(&rfq.from) * 1000.0).round() as u32);
                Addressed {
                    provider: provider.to_string(),
                    distance_m,
                    within_radius: distance_m
                        .zip(rfq.radius)
                        .map(|(distance, radius)| distance <= radius.metres()),
                    heartbeat_at: heartbeat.map(|h| h.at),
                    heartbeat_age_ms: heartbeat.map(|h| (rfq.created_at - h.at).num_milliseconds()),
                    placed_by: found.map(|(_, by)| by),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::Duration;
    use rfq_core::{GeoPoint, ProviderStatus, Region, RegionPrecision};

    fn heartbeat(provider: &str, lat: f64, at: chrono::DateTime<chrono::Utc>) -> ProviderHeartbeat {
        let position = GeoPoint::new(lat, 13.40).unwrap();
        ProviderHeartbeat {
            provider: ProviderId::parse(provider).unwrap(),
            adapter: "test".into(),
            region: Region::of(&position, RegionPrecision::DEFAULT),
            position,
            status: ProviderStatus::Online,
            at,
            valid_for: std::time::Duration::from_secs(30),
        }
    }

    #[test]
    fn the_last_heartbeat_before_acceptance_places_a_provider() {
        let rfq = Rfq::sample(&["a"]);
        let at = |s: i64| rfq.created_at + Duration::seconds(s);
        let mut placing = Placing::new(&rfq);
        // 52.52 is the pickup's latitude; 0.01° of latitude is ~1.1 km.
        placing.feed(heartbeat("a", 52.60, at(-20)));
        placing.feed(heartbeat("a", 52.53, at(-2)));
        placing.feed(heartbeat("stranger", 52.52, at(-1)));
        assert!(!placing.done(at(5), Duration::seconds(10)));
        placing.feed(heartbeat("a", 52.70, at(3)));
        assert!(placing.done(at(11), Duration::seconds(10)));
        let [placed] = placing.placed().try_into().unwrap();
        assert_eq!(placed.provider, "a");
        assert_eq!(
            placed.placed_by,
            Some(PlacedBy::LastHeartbeatBeforeAcceptance)
        );
        assert_eq!(placed.heartbeat_age_ms, Some(2000));
        assert_eq!(placed.heartbeat_at, Some(at(-2)));
        assert!(
            (1100..=1120).contains(&placed.distance_m.unwrap()),
            "{placed:?}"
        );
        assert_eq!(placed.within_radius, Some(true));
    }

    #[test]
    fn a_compacted_away_heartbeat_is_replaced_by_the_first_kept_after_and_said_so() {
        let rfq = Rfq::sample(&["a", "b", "gone"]);
        let at = |s: i64| rfq.created_at + Duration::seconds(s);
        let mut placing = Placing::new(&rfq);
        placing.feed(heartbeat("b", 52.52, at(-1)));
        placing.feed(heartbeat("a", 52.61, at(4)));
        placing.feed(heartbeat("a", 52.52, at(9)));
        // "gone" has no heartbeat at all: reading on might still find one.
        assert!(!placing.done(at(60), Duration::seconds(10)));
        let placed = placing.placed();
        let a = placed.iter().find(|p| p.provider == "a").unwrap();
        assert_eq!(a.placed_by, Some(PlacedBy::FirstHeartbeatAfterAcceptance));
        assert_eq!(a.heartbeat_age_ms, Some(-4000));
        assert_eq!(a.within_radius, Some(false), "{a:?}");
        let gone = placed.iter().find(|p| p.provider == "gone").unwrap();
        assert_eq!(
            (gone.placed_by, gone.distance_m, gone.within_radius),
            (None, None, None)
        );
        placing.feed(heartbeat("gone", 52.52, at(61)));
        assert!(placing.done(at(62), Duration::seconds(10)));
    }
}
