//! An RFQ as a partner sees it at its door: only what it needs to quote,
//! and only its own providers.

use super::Door;
use crate::{CorrelationId, GeoPoint, ProviderId, Rfq};
use chrono::{DateTime, Utc};

/// An RFQ as written to a partner's door (`rfq.v1.PartnerRfq` on
/// [`Door::rfqs_topic`]): no customer, no other partner's providers, no
/// return address (the door knows it; the partner answers to
/// `answer_to`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRfq {
    /// The RFQ's id: every answer carries it, and is keyed by it.
    pub id: CorrelationId,
    /// Where the ride starts.
    pub pickup: GeoPoint,
    /// Where it ends.
    pub destination: GeoPoint,
    /// When the RFQ closes at the latest.
    pub deadline: DateTime<Utc>,
    /// When the partner's answers should be on its answers topic: the
    /// deadline less the time the door needs to forward them.
    pub answer_by: DateTime<Utc>,
    /// The partner's providers the RFQ is addressed to (never another
    /// partner's), in order.
    pub providers: Vec<ProviderId>,
    /// Where the partner answers: its door's answers topic.
    pub answer_to: String,
}

impl PartnerRfq {
    /// `rfq` as the partner of `door` sees it, or `None` when it is
    /// addressed to none of the partner's providers. `margin`: how long
    /// before the deadline answers are due at the door.
    pub fn of(rfq: &Rfq, door: &Door, margin: chrono::Duration) -> Option<PartnerRfq> {
        let providers: Vec<ProviderId> = rfq
            .addressed
            .iter()
            .filter(|provider| door.partner().owns(provider))
            .cloned()
            .collect();
        if providers.is_empty() {
            return None;
        }
        Some(PartnerRfq {
            id: rfq.id,
            pickup: rfq.from,
            destination: rfq.to,
            deadline: rfq.deadline,
            answer_by: (rfq.deadline - margin).max(rfq.created_at),
            providers,
            answer_to: door.answers_topic(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Completion, CustomerId, PartnerName, Region, RegionPrecision, ReturnAddress};

    #[test]
    fn a_partner_sees_its_own_providers_only() {
        let id = |text: &str| ProviderId::parse(text).unwrap();
        let from = GeoPoint::new(52.52, 13.40).unwrap();
        let now = Utc::now();
        let rfq = Rfq {
            id: CorrelationId::new_random(),
            customer: CustomerId::parse("alice").unwrap(),
            from,
            to: GeoPoint::new(52.50, 13.45).unwrap(),
            region: Region::of(&from, RegionPrecision::DEFAULT),
            created_at: now,
            deadline: now + chrono::Duration::seconds(5),
            addressed: [id("acme-1"), id("bolt-1"), id("acme-2"), id("acmex-1")]
                .into_iter()
                .collect(),
            radius: None,
            return_address: ReturnAddress {
                topic: "rfq.quotes".into(),
                partition: 3,
            },
            completion: Completion::All,
        };
        let acme = PartnerName::parse("acme").unwrap().door();
        let seen = PartnerRfq::of(&rfq, &acme, chrono::Duration::milliseconds(250)).unwrap();
        assert_eq!(seen.providers, vec![id("acme-1"), id("acme-2")]);
        assert_eq!(seen.answer_to, "rfq.door.acme.answers");
        assert_eq!(
            seen.answer_by,
            rfq.deadline - chrono::Duration::milliseconds(250)
        );
        let carol = PartnerName::parse("carol").unwrap().door();
        assert_eq!(PartnerRfq::of(&rfq, &carol, chrono::Duration::zero()), None);
    }
}
