//! Who a key speaks for: a customer, a partner or an operator, and what
//! each may read (issue 27).

use crate::{CustomerId, DomainError, PartnerName, ProviderId};
use std::fmt;

/// Who a request's key speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Posts RFQs and reads its own RFQs; no scorecards.
    Customer(CustomerId),
    /// Reads its own providers' scorecards ([`PartnerName::owns`]) and the
    /// RFQs addressed to them, as a partner may see them; posts nothing.
    Partner(PartnerName),
    /// Reads everything; posts nothing.
    Operator(OperatorName),
}

/// A key's role, as stored and shown (`rfq keys list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// [`Principal::Customer`].
    Customer,
    /// [`Principal::Partner`].
    Partner,
    /// [`Principal::Operator`].
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Customer, Role::Partner, Role::Operator];

    /// Its name: `customer`, `partner`, `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Partner => "partner",
            Role::Operator => "operator",
        }
    }

    /// The role named `text` (a stored role: none reads as customer, the
    /// role of every key from before roles).
    pub fn parse(text: Option<&str>) -> Result<Role, DomainError> {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(Role::Customer);
        }
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| DomainError::new("role", "must be customer, partner or operator"))
    }
}

impl Principal {
    /// The principal of `role` named `name` (as stored).
    pub fn of(role: Role, name: &str) -> Result<Principal, DomainError> {
        Ok(match role {
            Role::Customer => Principal::Customer(CustomerId::parse(name)?),
            Role::Partner => Principal::Partner(PartnerName::parse(name)?),
            Role::Operator => Principal::Operator(OperatorName::parse(name)?),
        })
    }

    /// Who an entry of the settings names: `partner:NAME`, `operator:NAME`,
    /// `customer:NAME`, or (as before roles) a customer's id alone.
    pub fn parse(who: &str) -> Result<Principal, DomainError> {
        if let Some((role, name)) = who.split_once(':') {
            let role = Role::ALL.into_iter().find(|r| r.as_str() == role.trim());
            if let Some(role) = role {
                return Principal::of(role, name);
            }
        }
        CustomerId::parse(who).map(Principal::Customer)
    }

    /// Its role.
    pub fn role(&self) -> Role {
        match self {
            Principal::Customer(_) => Role::Customer,
            Principal::Partner(_) => Role::Partner,
            Principal::Operator(_) => Role::Operator,
        }
    }

    /// Its name within its role (customer id, partner name, operator name).
    pub fn name(&self) -> &str {
        match self {
            Principal::Customer(customer) => customer.as_str(),
            Principal::Partner(partner) => partner.as_str(),
            Principal::Operator(operator) => operator.as_str(),
        }
    }

    /// Whether it reads `provider`'s scorecard: an operator any, a partner
    /// its own providers', a customer none.
    pub fn reads_scorecard_of(&self, provider: &ProviderId) -> bool {
        match self {
            Principal::Customer(_) => false,
            Principal::Partner(partner) => partner.owns(provider),
            Principal::Operator(_) => true,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role().as_str(), self.name())
    }
}

/// An operator's name (whose key it is): 1 to 64 ASCII letters, digits,
/// `.`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperatorName(String);

impl OperatorName {
    /// Checks a name from outside the process.
    pub fn parse(text: &str) -> Result<OperatorName, DomainError> {
        let text = text.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.is_empty() || text.len() > 64 || !text.chars().all(allowed) {
            return Err(DomainError::new(
                "operator",
                "must be 1 to 64 ASCII letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(OperatorName(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
