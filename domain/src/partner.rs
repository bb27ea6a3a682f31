//! Partners as tenants: a partner's name, the namespace of its provider
//! ids, and the names of its door (its own topics, consumer groups and
//! registry subjects).
//!
//! A partner named `acme` owns every provider id that starts with `acme-`
//! and nothing else; its door is every topic, group and subject under
//! `rfq.door.acme.`. Names have no `-` and no `.`, so one partner's
//! namespace or prefix is never inside another's (`acme` and `acme-x`
//! cannot both exist). Every check of "is this partner's" calls
//! [`PartnerName::owns`] or [`Door`]: one rule, one home.

mod rfq;

pub use rfq::PartnerRfq;

use crate::{DomainError, ProviderId};
use std::fmt;

/// A partner's name: 2 to 24 characters, lowercase ASCII letters and
/// digits, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartnerName(String);

impl PartnerName {
    /// Shortest name.
    pub const MIN_LEN: usize = 2;
    /// Longest name (a door topic name stays far below Kafka's 249).
    pub const MAX_LEN: usize = 24;

    /// Checks a name from outside the process.
    pub fn parse(text: &str) -> Result<PartnerName, DomainError> {
        const FIELD: &str = "partner";
        let text = text.trim();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&text.len()) {
            return Err(DomainError::new(
                FIELD,
                format!("must be {} to {} characters", Self::MIN_LEN, Self::MAX_LEN),
            ));
        }
        if !text.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(DomainError::new(
                FIELD,
                "must start with a lowercase letter",
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        {
            return Err(DomainError::new(
                FIELD,
                format!("must hold only lowercase letters and digits, not {bad:?}"),
            ));
        }
        Ok(PartnerName(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a provider id is in this partner's namespace (`NAME-…`,
    /// with at least one character after the dash).
    pub fn owns(&self, provider: &ProviderId) -> bool {
        provider
            .as_str()
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| !rest.is_empty())
    }

    /// The partner whose namespace a provider id is in, if its prefix is
    /// a valid name (whether that partner exists is for the caller).
    pub fn of_provider(provider: &ProviderId) -> Option<PartnerName> {
        let (name, rest) = provider.as_str().split_once('-')?;
        if rest.is_empty() {
            return None;
        }
        PartnerName::parse(name).ok()
    }

    /// This partner's door: its topics, groups and subjects.
    pub fn door(&self) -> Door {
        Door {
            partner: self.clone(),
        }
    }
}

impl fmt::Display for PartnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The names under which a partner meets us: everything under
/// [`Door::prefix`] is the partner's, nothing else is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Door {
    partner: PartnerName,
}

impl Door {
    /// What every door name starts with.
    pub const ROOT: &'static str = "rfq.door.";

    /// The partner.
    pub fn partner(&self) -> &PartnerName {
        &self.partner
    }

    /// The prefix of the door's topics, consumer groups and subjects
    /// (`rfq.door.NAME.`): a partner's prefixed ACLs are on it.
    pub fn prefix(&self) -> String {
        format!("{}{}.", Self::ROOT, self.partner)
    }

    /// RFQs addressed to the partner's providers, as the partner sees them
    /// (written by us, read by the partner).
    pub fn rfqs_topic(&self) -> String {
        format!("{}rfqs", self.prefix())
    }

    /// The partner's quotes and declines (written by the partner, read by
    /// the door).
    pub fn answers_topic(&self) -> String {
        format!("{}answers", self.prefix())
    }

    /// The partner's provider heartbeats (written by the partner, read by
    /// the door).
    pub fn heartbeats_topic(&self) -> String {
        format!("{}heartbeats", self.prefix())
    }

    /// What the partner may do, and on what: the one list the embedded
    /// broker's front enforces and the ACLs created on Apache Kafka are
    /// made of.
    pub fn rights(&self) -> Vec<Right> {
        vec![
            Right::topic(self.rfqs_topic(), &[Operation::Read, Operation::Describe]),
            Right::topic(
                self.answers_topic(),
                &[Operation::Write, Operation::Describe],
            ),
            Right::topic(
                self.heartbeats_topic(),
                &[Operation::Write, Operation::Describe],
            ),
            Right {
                resource: Resource::GroupsUnder(self.prefix()),
                operations: vec![Operation::Read, Operation::Describe],
            },
        ]
    }

    /// Whether the partner may do `operation` on `resource` ([`Door::rights`]).
    pub fn may(&self, operation: Operation, resource: &Resource) -> bool {
        self.rights()
            .iter()
            .any(|right| right.operations.contains(&operation) && right.resource.covers(resource))
    }

    /// Whether a topic, group or subject name is this door's.
    pub fn holds(&self, name: &str) -> bool {
        name.starts_with(&self.prefix())
    }

    /// The partner whose door holds a name, if any.
    pub fn of_name(name: &str) -> Option<Door> {
        let rest = name.strip_prefix(Self::ROOT)?;
        let (partner, tail) = rest.split_once('.')?;
        if tail.is_empty() {
            return None;
        }
        PartnerName::parse(partner)
            .ok()
            .map(|partner| partner.door())
    }
}

/// What a right is on (Kafka's resource types and pattern types).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// One topic, by its whole name (a literal ACL).
    Topic(String),
    /// One consumer group, by its whole name.
    Group(String),
    /// Every consumer group whose name starts with this (a prefixed ACL).
    GroupsUnder(String),
}

impl Resource {
    /// Whether a right on `self` is a right on `other`.
    pub fn covers(&self, other: &Resource) -> bool {
        match (self, other) {
            (Resource::Topic(mine), Resource::Topic(asked)) => mine == asked,
            (Resource::Group(mine), Resource::Group(asked)) => mine == asked,
            (Resource::GroupsUnder(prefix), Resource::Group(asked)) => asked.starts_with(prefix),
            (Resource::GroupsUnder(mine), Resource::GroupsUnder(asked)) => asked.starts_with(mine),
            _ => false,
        }
    }
}

/// What is done (Kafka's ACL operations, those a partner may have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Fetch from a topic; join, sync, commit in a group.
    Read,
    /// Produce to a topic.
    Write,
    /// Metadata and offsets of a topic; describe a group.
    Describe,
}

/// Operations allowed on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    /// On what.
    pub resource: Resource,
    /// What.
    pub operations: Vec<Operation>,
}

impl Right {
    fn topic(name: String, operations: &[Operation]) -> Right {
        Right {
            resource: Resource::Topic(name),
            operations: operations.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str) -> ProviderId {
        ProviderId::parse(id).unwrap()
    }

    #[test]
    fn names_are_checked() {
        assert!(PartnerName::parse("acme").is_ok());
        assert!(PartnerName::parse("acme2").is_ok());
        for bad in [
            "a",
            "Acme",
            "acme-x",
            "acme.x",
            "2acme",
            "",
            &"a".repeat(25),
        ] {
            assert!(PartnerName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_partner_owns_its_namespace_only() {
        let acme = PartnerName::parse("acme").unwrap();
        assert!(acme.owns(&provider("acme-car-1")));
        assert!(!acme.owns(&provider("acme-")));
        assert!(!acme.owns(&provider("acme")));
        assert!(!acme.owns(&provider("acmex-car-1")));
        assert!(!acme.owns(&provider("bolt-car-1")));
        assert!(!acme.owns(&provider("xacme-car-1")));
        assert_eq!(
            PartnerName::of_provider(&provider("bolt-car-1")),
            PartnerName::parse("bolt").ok()
        );
        assert_eq!(PartnerName::of_provider(&provider("Bolt-car-1")), None);
    }

    #[test]
    fn a_door_holds_its_own_names_only() {
        let acme = PartnerName::parse("acme").unwrap().door();
        assert_eq!(acme.rfqs_topic(), "rfq.door.acme.rfqs");
        assert_eq!(acme.answers_topic(), "rfq.door.acme.answers");
        assert_eq!(acme.heartbeats_topic(), "rfq.door.acme.heartbeats");
        assert!(acme.holds("rfq.door.acme.answers-value"));
        assert!(!acme.holds("rfq.door.acmex.answers"));
        assert!(!acme.holds("rfq.requests"));
        assert_eq!(Door::of_name("rfq.door.acme.answers"), Some(acme));
        assert_eq!(Door::of_name("rfq.door.acme."), None);
        assert_eq!(Door::of_name("rfq.quotes"), None);
    }

    #[test]
    fn a_door_grants_the_least_a_partner_needs() {
        let acme = PartnerName::parse("acme").unwrap().door();
        let topic = |name: &str| Resource::Topic(name.to_owned());
        assert!(acme.may(Operation::Read, &topic("rfq.door.acme.rfqs")));
        assert!(!acme.may(Operation::Write, &topic("rfq.door.acme.rfqs")));
        assert!(acme.may(Operation::Write, &topic("rfq.door.acme.answers")));
        assert!(!acme.may(Operation::Read, &topic("rfq.door.acme.answers")));
        assert!(acme.may(Operation::Describe, &topic("rfq.door.acme.heartbeats")));
        assert!(!acme.may(Operation::Describe, &topic("rfq.door.acme.other")));
        assert!(!acme.may(Operation::Read, &topic("rfq.requests")));
        assert!(!acme.may(Operation::Read, &topic("rfq.door.bolt.rfqs")));
        let group = |name: &str| Resource::Group(name.to_owned());
        assert!(acme.may(Operation::Read, &group("rfq.door.acme.quoter")));
        assert!(!acme.may(Operation::Read, &group("rfq.door.acmex.quoter")));
        assert!(!acme.may(Operation::Read, &group("rfq-aggregator")));
    }
}
