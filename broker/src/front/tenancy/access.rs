//! Who may do what on the embedded broker, as a pure function: the same
//! rights `rfq partners add` prints as ACLs for Apache Kafka (a partner's
//! principal has prefixed rights on its own door only).
//!
//! | right | on | a partner has it for |
//! |---|---|---|
//! | read | a topic | its door's RFQ topic |
//! | write | a topic | its door's answers and heartbeats topics |
//! | describe | a topic | every topic of its door |
//! | use | a consumer group | every group under its door's prefix |
//!
//! An operator (our own components) has every right. Nothing else is a
//! partner's: no other door, no pipeline topic (`rfq.requests`,
//! `rfq.quotes`, `rfq.providers`, …), no transactional id, no cluster
//! operation (creating topics, configs).

use rfq_core::domain::Door;

/// Who a connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Our own components: every right.
    Operator,
    /// A partner: its door only.
    Partner(Door),
}

/// What is done to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicUse {
    /// Fetching its records, committing offsets for it.
    Read,
    /// Producing to it.
    Write,
    /// Its metadata and offsets.
    Describe,
}

impl Principal {
    /// Whether this principal may `used` the topic `topic`.
    pub fn may(&self, used: TopicUse, topic: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Partner(door) => match used {
                TopicUse::Read => topic == door.rfqs_topic(),
                TopicUse::Write => topic == door.answers_topic() || topic == door.heartbeats_topic(),
                TopicUse::Describe => door.holds(topic),
            },
        }
    }

    /// Whether this principal may join, commit for or describe `group`.
    pub fn may_use_group(&self, group: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Partner(door) => door.holds(group),
        }
    }

    /// Whether this principal may use a transactional id (none is a
    /// partner's: a partner's writes are checked one by one at its door).
    pub fn may_transact(&self) -> bool {
        matches!(self, Principal::Operator)
    }

    /// The name used in logs and metrics.
    pub fn name(&self) -> String {
        match self {
            Principal::Operator => "operator".to_owned(),
            Principal::Partner(door) => door.partner().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::domain::PartnerName;

    fn partner(name: &str) -> Principal {
        Principal::Partner(PartnerName::parse(name).unwrap().door())
    }

    #[test]
    fn a_partner_has_its_own_door_only() {
        let acme = partner("acme");
        assert!(acme.may(TopicUse::Read, "rfq.door.acme.rfqs"));
        assert!(acme.may(TopicUse::Write, "rfq.door.acme.answers"));
        assert!(acme.may(TopicUse::Write, "rfq.door.acme.heartbeats"));
        assert!(acme.may(TopicUse::Describe, "rfq.door.acme.answers"));
        assert!(!acme.may(TopicUse::Write, "rfq.door.acme.rfqs"));
        assert!(!acme.may(TopicUse::Read, "rfq.door.acme.answers"));
        for theirs in [
            "rfq.door.bolt.rfqs",
            "rfq.door.acmex.rfqs",
            "rfq.requests",
            "rfq.quotes",
            "rfq.providers",
            "rfq.dead-letter",
        ] {
            for used in [TopicUse::Read, TopicUse::Write, TopicUse::Describe] {
                assert!(!acme.may(used, theirs), "{used:?} {theirs}");
            }
        }
        assert!(acme.may_use_group("rfq.door.acme.quoter"));
        assert!(!acme.may_use_group("rfq.door.bolt.quoter"));
        assert!(!acme.may_use_group("rfq-aggregator"));
        assert!(!acme.may_transact());
    }

    #[test]
    fn the_operator_has_every_right() {
        let operator = Principal::Operator;
        assert!(operator.may(TopicUse::Write, "rfq.quotes"));
        assert!(operator.may(TopicUse::Read, "rfq.door.bolt.answers"));
        assert!(operator.may_use_group("anything"));
        assert!(operator.may_transact());
    }
}
