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
mod tests {
    use super::*;

    /// The declared defaults: 300 s, at most 3600 s.
    fn limits() -> Limits {
        rfq_core::settings::defaults()
    }

    /// Parses as the customer the body names (or `c`), as its API key
    /// would say.
    fn parse(bytes: &[u8], limits: Limits) -> Result<NewRfq, IntakeError> {
        let named = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|body| body["customer"].as_str().map(str::to_owned))
            .filter(|name| CustomerId::parse(name).is_ok())
            .unwrap_or_else(|| "c".to_owned());
        super::parse(bytes, limits, &CustomerId::parse(&named).unwrap())
    }

    #[test]
    fn the_customer_is_the_api_keys() {
        let alice = CustomerId::parse("alice").unwrap();
        let body = |customer: &str| {
            format!(r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}}{customer}}}"#)
        };
        let parsed = super::parse(body("").as_bytes(), limits(), &alice).unwrap();
        assert_eq!(parsed.customer, alice, "left out: the key's");
        let same = super::parse(body(r#","customer":"alice""#).as_bytes(), limits(), &alice);
        assert_eq!(same.unwrap().customer, alice);
        match super::parse(
            body(r#","customer":"mallory""#).as_bytes(),
            limits(),
            &alice,
        ) {
            Err(IntakeError::Invalid(error)) => {
                assert_eq!(error.field, "customer");
                assert!(error.message.contains("alice"), "{}", error.message);
            }
            other => panic!("{other:?}"),
        }
    }

    fn field_of(body: &str) -> String {
        match parse(body.as_bytes(), limits()) {
            Err(IntakeError::Invalid(error)) => error.field,
            other => panic!("expected Invalid for {body}, got {other:?}"),
        }
    }

    #[test]
    fn valid_body_with_default_and_custom_deadline() {
        let body = r#"{"from":{"lat":52.52,"lon":13.40},"to":{"lat":52.5,"lon":13.45},"customer":"alice"}"#;
        let rfq = parse(body.as_bytes(), limits()).unwrap();
        assert_eq!(rfq.deadline, Duration::from_secs(300));
        assert_eq!(rfq.completion, CompletionRequest::All);
        assert_eq!(rfq.customer.as_str(), "alice");
        let body = r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"customer":"b","deadline-seconds":20}"#;
        assert_eq!(
            parse(body.as_bytes(), limits()).unwrap().deadline,
            Duration::from_secs(20)
        );
        // Whole numbers written with a fraction are integers (as in JSON
        // Schema); null is left out.
        let body = r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"deadline-seconds":20.0,
            "completion":{"rule":"first-n","n":2.0},"customer":null}"#;
        let rfq = parse(body.as_bytes(), limits()).unwrap();
        assert_eq!(rfq.deadline, Duration::from_secs(20));
        assert_eq!(rfq.completion, CompletionRequest::FirstN(2));
        let body = r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"deadline-seconds":null,
            "completion":{"rule":"quorum","n":null}}"#;
        let rfq = parse(body.as_bytes(), limits()).unwrap();
        assert_eq!(rfq.deadline, Duration::from_secs(300));
        assert_eq!(rfq.completion, CompletionRequest::Quorum(None));
        for fraction in [r#""deadline-seconds":2.5"#, r#""deadline-seconds":"2""#] {
            let body =
                format!(r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}},{fraction}}}"#);
            assert_eq!(field_of(&body), "deadline-seconds", "{body}");
        }
    }

    #[test]
    fn completion_rules_are_parsed_and_quorum_defaults_to_a_majority() {
        use rfq_core::Completion;
        let rule = |completion: &str| {
            let body = format!(
                r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}},"customer":"c","completion":{completion}}}"#
            );
            parse(body.as_bytes(), limits()).unwrap().completion
        };
        assert_eq!(rule(r#"{"rule":"all"}"#).resolve(3), Completion::All);
        assert_eq!(
            rule(r#"{"rule":"first-n","n":2}"#).resolve(3),
            Completion::FirstN(2)
        );
        assert_eq!(
            rule(r#"{"rule":"quorum"}"#).resolve(4),
            Completion::Quorum(3)
        );
        assert_eq!(
            rule(r#"{"rule":"quorum","n":1}"#).resolve(4),
            Completion::Quorum(1)
        );
        assert_eq!(
            rule(r#"{"rule":"deadline"}"#).resolve(4),
            Completion::Deadline
        );
        let Completion::Quality(price) =
            rule(r#"{"rule":"quality","max-price":"15.5","currency":"EUR"}"#).resolve(4)
        else {
            panic!("not quality")
        };
        assert_eq!(price.to_string(), "15.50 EUR");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(
            parse(b"{\"from\":", limits()),
            Err(IntakeError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"", limits()),
            Err(IntakeError::Malformed(_))
        ));
    }

    #[test]
    fn each_invalid_field_is_named() {
        let to = r#""to":{"lat":1,"lon":1}"#;
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":91,"lon":0}},{to},"customer":"c"}}"#
            )),
            "from.lat"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":0,"lon":-181}},{to},"customer":"c"}}"#
            )),
            "from.lon"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"  "}}"#
            )),
            "customer"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","deadline-seconds":0}}"#
            )),
            "deadline-seconds"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","deadline-seconds":86400}}"#
            )),
            "deadline-seconds"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","tip":5}}"#
            )),
            "tip"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"from":{{"lat":"x","lon":0}},{to},"customer":"c"}}"#
            )),
            "from.lat"
        );
        assert_eq!(field_of(&format!(r#"{{{to},"customer":"c"}}"#)), "");
        let with = |completion: &str| {
            format!(
                r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","completion":{completion}}}"#
            )
        };
        assert_eq!(
            field_of(&with(r#"{"rule":"first-n","n":0}"#)),
            "completion.n"
        );
        assert_eq!(
            field_of(&with(r#"{"rule":"quorum","n":-2}"#)),
            "completion.n"
        );
        assert_eq!(
            field_of(&with(
                r#"{"rule":"quality","max-price":"1.234","currency":"EUR"}"#
            )),
            "completion.max-price"
        );
        assert_eq!(
            field_of(&with(
                r#"{"rule":"quality","max-price":"12","currency":"euro"}"#
            )),
            "completion.currency"
        );
        assert!(field_of(&with(r#"{"rule":"best"}"#)).starts_with("completion"));
        assert!(field_of(&with(r#"{"rule":"all","n":2}"#)).starts_with("completion"));
        assert_eq!(field_of("[1,2]"), "");
    }
}
