use super::DomainError;
use std::fmt;

/// An ISO 4217 currency code (three upper-case letters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    /// Parses a currency code such as `EUR`.
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        let code = code.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(DomainError::new(
                "currency",
                format!("must be an ISO 4217 code such as EUR, got {code:?}"),
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A quoted price: a positive amount in minor units (cents) of a currency.
/// Integer minor units keep money exact on the wire and in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Price {
    /// The amount in minor units (cents).
    minor: i64,
    /// Its currency.
    currency: Currency,
}

impl Price {
    /// Upper bound on one ride's price, in minor units (one million).
    const MAX_MINOR: i64 = 100_000_000;

    /// A price of `minor` units of `currency`: positive and below a sanity bound.
    pub fn new(minor: i64, currency: Currency) -> Result<Self, DomainError> {
        if minor <= 0 || minor > Self::MAX_MINOR {
            return Err(DomainError::new(
                "price",
                format!(
                    "must be positive and at most {}, got {minor}",
                    Self::MAX_MINOR
                ),
            ));
        }
        Ok(Self { minor, currency })
    }

    /// Amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// Currency.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// Parses a decimal amount such as `12.30` or `12` (at most two places).
    pub fn parse_amount(text: &str, currency: Currency) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::new(
                "price",
                format!("must be a decimal amount such as 12.30, got {text:?}"),
            )
        };
        let (units, cents) = match text.split_once('.') {
            Some((units, cents)) => (units, Some(cents)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let cents_ok = cents.is_none_or(|c| digits(c) && c.len() <= 2);
        if !digits(units) || !cents_ok || units.len() > 9 {
            return Err(bad());
        }
        let units: i64 = units.parse().map_err(|_| bad())?;
        let cents: i64 = format!("{:0<2}", cents.unwrap_or(""))
            .parse()
            .map_err(|_| bad())?;
        Self::new(units * 100 + cents, currency)
    }

    /// The amount as a decimal string with two places, e.g. `12.30`.
    pub fn amount(&self) -> String {
        format!("{}.{:02}", self.minor / 100, self.minor % 100)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount(), self.currency.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_positive_and_formatted_exactly() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(Price::new(1230, eur.clone()).unwrap().amount(), "12.30");
        assert_eq!(Price::new(5, eur.clone()).unwrap().to_string(), "0.05 EUR");
        assert!(Price::new(0, eur.clone()).is_err());
        assert!(Price::new(-1, eur).is_err());
        assert!(Currency::parse("eur").is_err());
        let parse =
            |text| Price::parse_amount(text, Currency::parse("EUR").unwrap()).map(|p| p.minor());
        assert_eq!(parse("12.3"), Ok(1230));
        assert_eq!(parse("12"), Ok(1200));
        assert_eq!(parse("0.05"), Ok(5));
        for bad in ["", "1.234", "-1", "1e3", ".5", "12.", "0", "abc"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
