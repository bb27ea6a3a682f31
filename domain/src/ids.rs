use super::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The correlation ID of one RFQ: every quote names it, and it is the RFQ's
/// resource id in the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrelationId(Uuid);

impl CorrelationId {
    /// The greatest id (all bits set): a bound for ranges ordered by id.
    pub const MAX: CorrelationId = CorrelationId(Uuid::max());

    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses an id from outside (URL path segment, Kafka key or field).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(text.trim())
            .map(Self)
            .map_err(|_| DomainError::new("correlation-id", format!("not a UUID: {text:?}")))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Stable partition choice for this id among `partitions` (FNV-1a of its
    /// bytes): used to pick the return-address partition of an RFQ.
    pub fn partition(&self, partitions: i32) -> i32 {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in self.0.as_bytes() {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        let partitions = partitions.max(1) as u32;
        (hash % partitions) as i32
    }
}

impl From<Uuid> for CorrelationId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Defines a checked string identifier.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and checks an identifier from outside the process.
            pub fn parse(text: &str) -> Result<Self, DomainError> {
                let text = text.trim();
                if text.is_empty() {
                    return Err(DomainError::new($field, "must not be empty"));
                }
                if text.chars().count() > $max {
                    return Err(DomainError::new(
                        $field,
                        format!("must be at most {} characters", $max),
                    ));
                }
                let allowed: fn(char) -> bool = $allowed;
                if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
                    return Err(DomainError::new(
                        $field,
                        format!("must not contain {bad:?}"),
                    ));
                }
                Ok(Self(text.to_owned()))
            }

            /// The identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A provider ("unicorn") id: letters, digits, `.`, `_`, `-`; at most 64.
    ProviderId,
    "provider",
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
);

string_id!(
    /// The customer who asked for quotes: any printable text, at most 128 characters.
    CustomerId,
    "customer",
    128,
    |c| !c.is_control()
);

/// A client's `Idempotency-Key`: the name under which it may retry one
/// `POST /rfqs` safely, unique per customer (the key is scoped by the
/// customer who sends it). Kept exactly as sent, never trimmed: 1 to
/// [`IdempotencyKey::MAX_LEN`] printable ASCII characters, what a Structured
/// Field String may hold (RFC 9651), so a key round-trips through the header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted (a UUID needs 36; 255 is the common bound).
    pub const MAX_LEN: usize = 255;

    /// Checks a key's characters (any quoting already undone).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        const FIELD: &str = "Idempotency-Key";
        if text.is_empty() {
            return Err(DomainError::new(FIELD, "must not be empty"));
        }
        if text.len() > Self::MAX_LEN {
            return Err(DomainError::new(
                FIELD,
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if let Some(bad) = text.chars().find(|c| !matches!(c, ' '..='~')) {
            return Err(DomainError::new(
                FIELD,
                format!("must be printable ASCII, not {bad:?}"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_checked() {
        assert!(ProviderId::parse("unicorn-berlin-01").is_ok());
        assert!(ProviderId::parse("  ").is_err());
        assert!(ProviderId::parse("a b").is_err());
        assert!(ProviderId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn customer_ids_are_trimmed_and_checked() {
        assert_eq!(CustomerId::parse("  alice ").unwrap().as_str(), "alice");
        assert_eq!(CustomerId::parse("").unwrap_err().field, "customer");
        assert!(CustomerId::parse("bad\u{0}id").is_err());
    }

    #[test]
    fn idempotency_keys_are_kept_as_sent_and_checked() {
        assert_eq!(IdempotencyKey::parse(" a b ").unwrap().as_str(), " a b ");
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}").is_err());
        assert!(IdempotencyKey::parse("tab\there").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn correlation_partition_is_stable_and_in_range() {
        let id = CorrelationId::parse("6f1c1d3e-8d0b-4a57-9a77-0b7b8c9b1a10").unwrap();
        assert_eq!(id.partition(8), id.partition(8));
        let spread: std::collections::HashSet<i32> = (0..200)
            .map(|_| CorrelationId::new_random().partition(8))
            .collect();
        assert!(spread.iter().all(|p| (0..8).contains(p)));
        assert!(
            spread.len() > 4,
            "ids should spread over partitions: {spread:?}"
        );
        assert!(CorrelationId::parse("nope").is_err());
    }
}
