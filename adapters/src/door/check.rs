//! What a partner may write at its door, decided without I/O: a record in
//! the name of a provider outside its namespace is an impersonation; an
//! answer to an RFQ the door did not send it, or for one of its providers
//! the RFQ was not addressed to, is not its to give.

use chrono::{DateTime, Utc};
use rfq_core::{
    Answer, PartnerName, ProviderHeartbeat, ProviderId, ReturnAddress, kafka::DeadLetterKind,
};
use std::collections::BTreeSet;

/// An RFQ the door sent its partner, as read back from the door's rfqs
/// topic: what an answer is checked against, and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentRfq {
    /// The partner's providers it is addressed to.
    pub providers: BTreeSet<ProviderId>,
    /// Where its answers go.
    pub return_address: ReturnAddress,
    /// Its deadline (an answer undeliverable past it is dead-lettered).
    pub deadline: DateTime<Utc>,
}

/// Why a partner's record is not forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The dead letter's kind.
    pub kind: DeadLetterKind,
    /// Why, in words.
    pub reason: String,
}

/// Whether `partner` may write in the name of `provider` at all.
pub(crate) fn in_namespace(partner: &PartnerName, provider: &ProviderId) -> Result<(), Refusal> {
    match partner.owns(provider) {
        true => Ok(()),
        false => Err(Refusal {
            kind: DeadLetterKind::Impersonation,
            reason: format!(
                "partner {partner} wrote for provider {provider}, outside its namespace \
                 ({partner}-…)"
            ),
        }),
    }
}

/// Whether `partner` may forward `answer`, given the RFQ the door sent it
/// under that id (`None`: none).
pub(crate) fn answer(
    partner: &PartnerName,
    answer: &Answer,
    sent: Option<&SentRfq>,
) -> Result<(), Refusal> {
    in_namespace(partner, &answer.provider)?;
    let not_yours = |reason: String| Refusal {
        kind: DeadLetterKind::NotYours,
        reason,
    };
    let Some(sent) = sent else {
        return Err(not_yours(format!(
            "RFQ {} was not sent to partner {partner} (not on its door)",
            answer.rfq
        )));
    };
    if !sent.providers.contains(&answer.provider) {
        return Err(not_yours(format!(
            "RFQ {} is not addressed to {} (partner {partner}'s providers it names: {})",
            answer.rfq,
            answer.provider,
            sent.providers
                .iter()
                .map(ProviderId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Whether `partner` may forward `heartbeat`.
pub(crate) fn heartbeat(
    partner: &PartnerName,
    heartbeat: &ProviderHeartbeat,
) -> Result<(), Refusal> {
    in_namespace(partner, &heartbeat.provider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::{CorrelationId, Reply};

    fn id(text: &str) -> ProviderId {
        ProviderId::parse(text).unwrap()
    }

    fn answer_of(provider: &str) -> Answer {
        Answer {
            rfq: CorrelationId::new_random(),
            provider: id(provider),
            responded_at: Utc::now(),
            reply: Reply::Declined {
                reason: String::new(),
            },
        }
    }

    fn sent(providers: &[&str]) -> SentRfq {
        SentRfq {
            providers: providers.iter().map(|p| id(p)).collect(),
            return_address: ReturnAddress {
                topic: "rfq.quotes".into(),
                partition: 0,
            },
            deadline: Utc::now(),
        }
    }

    #[test]
    fn an_answer_passes_only_for_the_partners_addressed_providers() {
        let acme = PartnerName::parse("acme").unwrap();
        let known = sent(&["acme-1", "acme-2"]);
        assert_eq!(answer(&acme, &answer_of("acme-1"), Some(&known)), Ok(()));
        let kind = |result: Result<(), Refusal>| result.unwrap_err().kind;
        // Another partner's provider: impersonation, whatever the RFQ.
        assert_eq!(
            kind(answer(&acme, &answer_of("bolt-1"), Some(&known))),
            DeadLetterKind::Impersonation
        );
        assert_eq!(
            kind(answer(&acme, &answer_of("acmex-1"), None)),
            DeadLetterKind::Impersonation
        );
        // Its own provider, not addressed; or an RFQ never sent to it.
        assert_eq!(
            kind(answer(&acme, &answer_of("acme-3"), Some(&known))),
            DeadLetterKind::NotYours
        );
        assert_eq!(
            kind(answer(&acme, &answer_of("acme-1"), None)),
            DeadLetterKind::NotYours
        );
    }

    #[test]
    fn a_heartbeat_passes_only_in_the_namespace() {
        let acme = PartnerName::parse("acme").unwrap();
        let beat = |provider: &str| ProviderHeartbeat {
            provider: id(provider),
            adapter: "acme".into(),
            region: rfq_core::Region::parse("u33db").unwrap(),
            position: rfq_core::GeoPoint::new(52.52, 13.40).unwrap(),
            status: rfq_core::ProviderStatus::Online,
            at: Utc::now(),
            valid_for: std::time::Duration::from_secs(30),
        };
        assert_eq!(heartbeat(&acme, &beat("acme-car-1")), Ok(()));
        let refused = heartbeat(&acme, &beat("bolt-car-1")).unwrap_err();
        assert_eq!(refused.kind, DeadLetterKind::Impersonation);
        assert!(refused.reason.contains("bolt-car-1"), "{}", refused.reason);
    }
}
