//! The `POST /rfqs` body: parsed once into domain types.

mod integer;

use crate::error::IntakeError;
use integer::{integer, optional_integer};
use rfq_core::{Currency, CustomerId, DomainError, GeoPoint, Price};
use serde::Deserialize;
use std::time::Duration;

/// A checked RFQ submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRfq {
    /// Pickup point.
    pub from: GeoPoint,
    /// Destination.
    pub to: GeoPoint,
    /// Who asks.
    pub customer: CustomerId,
    /// How long to gather quotes.
    pub deadline: Duration,
    /// When to close early.
    pub completion: CompletionRequest,
}

/// The completion rule as asked for; a quorum without `n` becomes a
/// majority of the providers addressed, known only at acceptance.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionRequest {
    /// Every addressed provider answered (the default).
    All,
    /// The first `n` quotes.
    FirstN(u32),
    /// `n` answers, or a majority of the addressed providers.
    Quorum(Option<u32>),
    /// Only the deadline.
    Deadline,
    /// A quote at or below this price.
    Quality(Price),
}

impl CompletionRequest {
    /// The rule for an RFQ addressed to `addressed` providers.
    pub fn resolve(&self, addressed: usize) -> rfq_core::Completion {
        use rfq_core::Completion;
        match self {
            CompletionRequest::All => Completion::All,
            CompletionRequest::FirstN(n) => Completion::FirstN(*n),
            CompletionRequest::Quorum(Some(n)) => Completion::Quorum(*n),
            CompletionRequest::Quorum(None) => {
                Completion::Quorum(u32::try_from(addressed / 2 + 1).unwrap_or(u32::MAX))
            }
            CompletionRequest::Deadline => Completion::Deadline,
            CompletionRequest::Quality(price) => Completion::Quality(price.clone()),
        }
    }
}

/// What a submission may ask for: the deadline settings, used as parsed.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Limits {
    /// Deadline of an RFQ that does not set `deadline-seconds`.
    #[arg(long, env = "RFQ_DEFAULT_DEADLINE_SECONDS", default_value_t = 300)]
    pub default_deadline_seconds: u32,

    /// Longest deadline a customer may ask for, in seconds (at most a day).
    #[arg(
        long,
        env = "RFQ_MAX_DEADLINE_SECONDS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(rfq_core::MAX_DEADLINE_SECONDS))
    )]
    pub max_deadline_seconds: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Point {
    /// Latitude, degrees.
    lat: f64,
    /// Longitude, degrees.
    lon: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    /// Pickup point.
    from: Point,
    /// Destination.
    to: Point,
    /// Who asks: if given, the customer of the API key (the key decides).
    customer: Option<String>,
    /// Seconds until the RFQ closes at the latest (default: the setting).
    #[serde(
        rename = "deadline-seconds",
        default,
        deserialize_with = "optional_integer"
    )]
    deadline_seconds: Option<i64>,
    /// The completion rule (default: all addressed providers answered).
    completion: Option<CompletionBody>,
}

#[derive(Deserialize)]
#[serde(tag = "rule", deny_unknown_fields)]
enum CompletionBody {
    #[serde(rename = "all")]
    All {},
    #[serde(rename = "first-n")]
    FirstN {
        #[serde(deserialize_with = "integer")]
        n: i64,
    },
    #[serde(rename = "quorum")]
    Quorum {
        #[serde(default, deserialize_with = "optional_integer")]
        n: Option<i64>,
    },
    #[serde(rename = "deadline")]
    Deadline {},
    #[serde(rename = "quality")]
    Quality {
        #[serde(rename = "max-price")]
        max_price: String,
        currency: String,
    },
}

fn completion(body: Option<CompletionBody>) -> Result<CompletionRequest, DomainError> {
    let count = |n: i64| {
        u32::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| DomainError::new("completion.n", format!("must be at least 1, got {n}")))
    };
    Ok(match body {
        None | Some(CompletionBody::All {}) => CompletionRequest::All,
        Some(CompletionBody::FirstN { n }) => CompletionRequest::FirstN(count(n)?),
        Some(CompletionBody::Quorum { n }) => CompletionRequest::Quorum(n.map(count).transpose()?),
        Some(CompletionBody::Deadline {}) => CompletionRequest::Deadline,
        Some(CompletionBody::Quality {
            max_price,
            currency,
        }) => {
            let currency = Currency::parse(&currency).map_err(|e| e.within("completion"))?;
            CompletionRequest::Quality(
                Price::parse_amount(&max_price, currency)
                    .map_err(|e| DomainError::new("completion.max-price", e.message))?,
            )
        }
    })
}

/// Parses a request body: not JSON → [`IntakeError::Malformed`]; JSON of the
/// wrong shape or out-of-range values → [`IntakeError::Invalid`] naming the field.
pub fn parse(bytes: &[u8], limits: Limits, customer: &CustomerId) -> Result<NewRfq, IntakeError> {
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| IntakeError::Malformed(e.to_string()))?;
    if !json.is_object() {
        return Err(DomainError::new("", "the RFQ must be a JSON object").into());
    }
    let body: Body = serde_path_to_error::deserialize(json).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        DomainError::new(field, error.into_inner().to_string())
    })?;
    let point = |p: Point, name: &str| GeoPoint::new(p.lat, p.lon).map_err(|e| e.within(name));
    let seconds = body
        .deadline_seconds
        .unwrap_or(i64::from(limits.default_deadline_seconds));
    if !(1..=i64::from(limits.max_deadline_seconds)).contains(&seconds) {
        return Err(DomainError::new(
            "deadline-seconds",
            format!(
                "must be between 1 and {} seconds, got {seconds}",
                limits.max_deadline_seconds
            ),
        )
        .into());
    }
    Ok(NewRfq {
        from: point(body.from, "from")?,
        to: point(body.to, "to")?,
        customer: customer_of(body.customer.as_deref(), customer)?,
        deadline: Duration::from_secs(seconds.unsigned_abs()),
        completion: completion(body.completion)?,
    })
}

/// The customer of an RFQ: the API key's. A `customer` in the body must
/// name the same one (older clients send it); another is refused.
fn customer_of(named: Option<&str>, authenticated: &CustomerId) -> Result<CustomerId, DomainError> {
    if let Some(named) = named
        && CustomerId::parse(named)? != *authenticated
    {
        return Err(DomainError::new(
            "customer",
            format!(
                "the API key belongs to customer {authenticated:?}: leave \"customer\" out or send that one"
            ),
        ));
    }
    Ok(authenticated.clone())
}

#[cfg(test)]
mod tests;
