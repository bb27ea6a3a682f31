//! API keys as both stores keep them: a row per key digest with the
//! customer (a customer's key), the role and the name (a partner's or an
//! operator's key). Rows from before roles have no role: customers'.
//!
//! A partner's or operator's row leaves the customer empty, so that a
//! reader from before roles (a rolling upgrade) finds no customer and
//! refuses the key rather than taking it for a customer's.

use crate::StoreError;
use chrono::{DateTime, Utc};
use rfq_core::auth::{KeyDigest, Principal, Role};

/// An API key as `rfq keys list` shows it (never the key: its digest).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// The key's digest.
    pub digest: KeyDigest,
    /// Who it speaks for.
    pub principal: Principal,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// The columns of a key row: (customer, role, name).
pub(crate) fn columns(principal: &Principal) -> (Option<&str>, &'static str, &str) {
    let customer = match principal {
        Principal::Customer(customer) => Some(customer.as_str()),
        _ => None,
    };
    (customer, principal.role().as_str(), principal.name())
}

/// Who a key row speaks for.
pub(crate) fn principal(
    customer: Option<String>,
    role: Option<String>,
    name: Option<String>,
) -> Result<Principal, StoreError> {
    let corrupt = |error: rfq_core::DomainError| StoreError::Corrupt(error.to_string());
    let role = Role::parse(role.as_deref()).map_err(corrupt)?;
    let name = match role {
        Role::Customer => customer.or(name),
        _ => name,
    }
    .unwrap_or_default();
    Principal::of(role, &name).map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_before_roles_are_customers_and_others_leave_no_customer() {
        let alice = principal(Some("alice".into()), None, None).unwrap();
        assert_eq!(alice, Principal::parse("alice").unwrap());
        assert_eq!(columns(&alice), (Some("alice"), "customer", "alice"));
        let acme = Principal::parse("partner:acme").unwrap();
        let (customer, role, name) = columns(&acme);
        assert_eq!((customer, role, name), (None, "partner", "acme"));
        assert_eq!(
            principal(None, Some(role.into()), Some(name.into())).unwrap(),
            acme
        );
        assert!(principal(None, Some("partner".into()), None).is_err());
        assert!(principal(Some("x".into()), Some("king".into()), None).is_err());
    }
}
