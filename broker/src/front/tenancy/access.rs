//! Who may do what on the embedded broker: a partner's rights are its
//! door's ([`Door::rights`]), the same list the ACLs `rfq partners add`
//! creates on Apache Kafka are made of. An operator (our own components)
//! has every right. Nothing else is a partner's: no other door, no
//! pipeline topic (`rfq.requests`, `rfq.quotes`, `rfq.providers`, …), no
//! transactional id, no cluster operation (creating topics, configs).

use rfq_core::domain::{Door, Operation, Resource};

/// Who a connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Our own components: every right.
    Operator,
    /// A partner: its door only.
    Partner(Door),
}

impl Principal {
    /// Whether this principal may do `operation` on the topic `topic`.
    pub fn may(&self, operation: Operation, topic: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Partner(door) => door.may(operation, &Resource::Topic(topic.to_owned())),
        }
    }

    /// Whether this principal may join, commit for or describe `group`.
    pub fn may_use_group(&self, group: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Partner(door) => {
                door.may(Operation::Read, &Resource::Group(group.to_owned()))
            }
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
        assert!(acme.may(Operation::Read, "rfq.door.acme.rfqs"));
        assert!(acme.may(Operation::Write, "rfq.door.acme.answers"));
        assert!(acme.may(Operation::Write, "rfq.door.acme.heartbeats"));
        assert!(acme.may(Operation::Describe, "rfq.door.acme.answers"));
        assert!(!acme.may(Operation::Write, "rfq.door.acme.rfqs"));
        assert!(!acme.may(Operation::Read, "rfq.door.acme.answers"));
        for theirs in [
            "rfq.door.bolt.rfqs",
            "rfq.door.acmex.rfqs",
            "rfq.requests",
            "rfq.quotes",
            "rfq.providers",
            "rfq.dead-letter",
        ] {
            for used in [Operation::Read, Operation::Write, Operation::Describe] {
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
        assert!(operator.may(Operation::Write, "rfq.quotes"));
        assert!(operator.may(Operation::Read, "rfq.door.bolt.answers"));
        assert!(operator.may_use_group("anything"));
        assert!(operator.may_transact());
    }
}
