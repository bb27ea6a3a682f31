//! Domain records to Avro values and back. Written by hand rather than via
//! serde so that unions, enums and logical types map exactly onto the
//! `.avsc` files, and so that every field is checked into a domain type here.

use crate::{CodecError, Record, RecordType};
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use fields::{Fields, wrong};
use rfq_core::{
    Answer, Completion, CorrelationId, Currency, CustomerId, DeadlineTick, DomainError, GeoPoint,
    PartnerRfq, Price, ProviderHeartbeat, ProviderId, ProviderStatus, Radius, Region, Reply,
    ReturnAddress, Rfq,
};
use std::time::Duration;

pub(crate) fn to_value(value: &Record) -> Value {
    match value {
        Record::Rfq(rfq) => rfq_value(rfq),
        Record::Answer(answer) => answer_value(answer),
        Record::Heartbeat(heartbeat) => heartbeat_value(heartbeat),
        Record::Tick(tick) => record(vec![
            ("partition", Value::Int(tick.partition)),
            ("at", time_value(&tick.at)),
            ("writer", string(&tick.writer)),
        ]),
        Record::PartnerRfq(rfq) => partner_rfq_value(rfq),
    }
}

pub(crate) fn from_value(record_type: RecordType, value: Value) -> Result<Record, CodecError> {
    let provider = match &value {
        Value::Record(fields) => fields.iter().find_map(|(name, value)| match value {
            Value::String(id) if name == "provider" => {
                Some(id.chars().take(crate::MAX_PROVIDER_SHOWN).collect())
            }
            _ => None,
        }),
        _ => None,
    };
    let invalid = |error: DomainError| CodecError::Invalid {
        record: record_type.full_name(),
        error,
        provider: provider.clone(),
    };
    let fields = Fields::of(value).map_err(invalid)?;
    match record_type {
        RecordType::RfqRequest => parse_rfq(fields).map(Record::Rfq),
        RecordType::QuoteResponse => parse_answer(fields).map(Record::Answer),
        RecordType::ProviderHeartbeat => parse_heartbeat(fields).map(Record::Heartbeat),
        RecordType::DeadlineTick => parse_tick(fields).map(Record::Tick),
        RecordType::PartnerRfq => parse_partner_rfq(fields).map(Record::PartnerRfq),
    }
    .map_err(invalid)
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn point_value(point: &GeoPoint) -> Value {
    record(vec![
        ("lat", Value::Double(point.lat())),
        ("lon", Value::Double(point.lon())),
    ])
}

fn time_value(time: &DateTime<Utc>) -> Value {
    Value::TimestampMillis(time.timestamp_millis())
}

fn rfq_value(rfq: &Rfq) -> Value {
    record(vec![
        ("correlation_id", string(&rfq.id.to_string())),
        ("customer", string(rfq.customer.as_str())),
        ("region", string(rfq.region.as_str())),
        ("pickup", point_value(&rfq.from)),
        ("dropoff", point_value(&rfq.to)),
        ("created_at", time_value(&rfq.created_at)),
        ("deadline", time_value(&rfq.deadline)),
        ("addressed", providers_value(rfq.addressed.iter().cloned())),
        (
            "return_address",
            record(vec![
                ("topic", string(&rfq.return_address.topic)),
                ("partition", Value::Int(rfq.return_address.partition)),
            ]),
        ),
        ("completion", completion_value(&rfq.completion)),
        (
            "radius_m",
            match rfq.radius {
                Some(radius) => Value::Union(
                    1,
                    Box::new(Value::Int(
                        i32::try_from(radius.metres()).unwrap_or(i32::MAX),
                    )),
                ),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
    ])
}

fn providers_value(providers: impl Iterator<Item = ProviderId>) -> Value {
    Value::Array(providers.map(|p| string(p.as_str())).collect())
}

fn partner_rfq_value(rfq: &PartnerRfq) -> Value {
    record(vec![
        ("correlation_id", string(&rfq.id.to_string())),
        ("pickup", point_value(&rfq.pickup)),
        ("destination", point_value(&rfq.destination)),
        ("deadline", time_value(&rfq.deadline)),
        ("answer_by", time_value(&rfq.answer_by)),
        ("providers", providers_value(rfq.providers.iter().cloned())),
        ("answer_to", string(&rfq.answer_to)),
    ])
}

fn completion_value(completion: &Completion) -> Value {
    let null = || Value::Union(0, Box::new(Value::Null));
    let (n, price) = match completion {
        Completion::FirstN(n) | Completion::Quorum(n) => (
            Value::Union(
                1,
                Box::new(Value::Int(i32::try_from(*n).unwrap_or(i32::MAX))),
            ),
            None,
        ),
        Completion::Quality(price) => (null(), Some(price)),
        Completion::All | Completion::Deadline => (null(), None),
    };
    record(vec![
        ("rule", string(completion.rule())),
        ("n", n),
        (
            "max_price_minor",
            price.map_or_else(null, |p| Value::Union(1, Box::new(Value::Long(p.minor())))),
        ),
        (
            "currency",
            price.map_or_else(null, |p| {
                Value::Union(1, Box::new(string(p.currency().as_str())))
            }),
        ),
    ])
}

fn answer_value(answer: &Answer) -> Value {
    let reply = match &answer.reply {
        Reply::Quoted {
            price,
            pickup_eta_seconds,
        } => Value::Union(
            0,
            Box::new(record(vec![
                ("price_minor", Value::Long(price.minor())),
                ("currency", string(price.currency().as_str())),
                (
                    "pickup_eta_seconds",
                    Value::Int(i32::try_from(*pickup_eta_seconds).unwrap_or(i32::MAX)),
                ),
            ])),
        ),
        Reply::Declined { reason } => {
            Value::Union(1, Box::new(record(vec![("reason", string(reason))])))
        }
    };
    record(vec![
        ("correlation_id", string(&answer.rfq.to_string())),
        ("provider", string(answer.provider.as_str())),
        ("responded_at", time_value(&answer.responded_at)),
        ("outcome", reply),
    ])
}

fn heartbeat_value(heartbeat: &ProviderHeartbeat) -> Value {
    let (index, symbol) = match heartbeat.status {
        ProviderStatus::Online => (0, "ONLINE"),
        ProviderStatus::Offline => (1, "OFFLINE"),
    };
    record(vec![
        ("provider", string(heartbeat.provider.as_str())),
        ("adapter", string(&heartbeat.adapter)),
        ("region", string(heartbeat.region.as_str())),
        ("position", point_value(&heartbeat.position)),
        ("status", Value::Enum(index, symbol.to_owned())),
        ("at", time_value(&heartbeat.at)),
        (
            "valid_for_ms",
            Value::Long(i64::try_from(heartbeat.valid_for.as_millis()).unwrap_or(i64::MAX)),
        ),
    ])
}

/// The provider ids of the array field `name`.
fn parse_providers<C: FromIterator<ProviderId>>(
    f: &mut Fields,
    name: &'static str,
) -> Result<C, DomainError> {
    match f.take(name)? {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(id) => ProviderId::parse(&id),
                other => Err(wrong(name, "strings", &other)),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| DomainError::new(name, e.to_string())),
        other => Err(wrong(name, "an array", &other)),
    }
}

fn parse_partner_rfq(mut f: Fields) -> Result<PartnerRfq, DomainError> {
    Ok(PartnerRfq {
        providers: parse_providers(&mut f, "providers")?,
        id: CorrelationId::parse(&f.string("correlation_id")?)?,
        pickup: f.point("pickup")?,
        destination: f.point("destination")?,
        deadline: f.time("deadline")?,
        answer_by: f.time("answer_by")?,
        answer_to: f.string("answer_to")?,
    })
}

fn parse_rfq(mut f: Fields) -> Result<Rfq, DomainError> {
    let addressed = parse_providers(&mut f, "addressed")?;
    let mut address = f.record("return_address")?;
    let return_address = ReturnAddress {
        topic: address
            .string("topic")
            .map_err(|e| e.within("return_address"))?,
        partition: address
            .int("partition")
            .map_err(|e| e.within("return_address"))?,
    };
    if return_address.topic.is_empty() || return_address.partition < 0 {
        return Err(DomainError::new(
            "return_address",
            "needs a topic and a partition >= 0",
        ));
    }
    let created_at = f.time("created_at")?;
    let deadline = f.time("deadline")?;
    if deadline < created_at {
        return Err(DomainError::new("deadline", "is before created_at"));
    }
    let completion = match f.0.contains_key("completion") {
        true => parse_completion(f.record("completion")?).map_err(|e| e.within("completion"))?,
        false => Completion::All,
    };
    let radius = match f.optional("radius_m") {
        None => None,
        Some(Value::Int(metres)) => Some(
            u32::try_from(metres)
                .map_err(|_| DomainError::new("radius_m", format!("negative: {metres}")))
                .and_then(Radius::new)
                .map_err(|e| DomainError::new("radius_m", e.message))?,
        ),
        Some(other) => return Err(wrong("radius_m", "an int", &other)),
    };
    Ok(Rfq {
        completion,
        radius,
        id: CorrelationId::parse(&f.string("correlation_id")?)?,
        customer: CustomerId::parse(&f.string("customer")?)?,
        region: Region::parse(&f.string("region")?)?,
        from: f.point("pickup")?,
        to: f.point("dropoff")?,
        created_at,
        deadline,
        addressed,
        return_address,
    })
}

fn parse_completion(mut f: Fields) -> Result<Completion, DomainError> {
    let rule = f.string("rule")?;
    let count = |value: Option<Value>| match value {
        Some(Value::Int(n)) if n > 0 => Ok(n.unsigned_abs()),
        other => Err(DomainError::new(
            "n",
            format!("rule {rule} needs n > 0, got {other:?}"),
        )),
    };
    Ok(match rule.as_str() {
        "all" => Completion::All,
        "deadline" => Completion::Deadline,
        "first-n" => Completion::FirstN(count(f.optional("n"))?),
        "quorum" => Completion::Quorum(count(f.optional("n"))?),
        "quality" => {
            let minor = match f.optional("max_price_minor") {
                Some(Value::Long(minor)) => minor,
                other => {
                    return Err(wrong(
                        "max_price_minor",
                        "a long",
                        &other.unwrap_or(Value::Null),
                    ));
                }
            };
            let currency = match f.optional("currency") {
                Some(Value::String(code)) => Currency::parse(&code)?,
                other => return Err(wrong("currency", "a string", &other.unwrap_or(Value::Null))),
            };
            Completion::Quality(Price::new(minor, currency)?)
        }
        other => return Err(DomainError::new("rule", format!("unknown rule {other:?}"))),
    })
}

fn parse_tick(mut f: Fields) -> Result<DeadlineTick, DomainError> {
    Ok(DeadlineTick {
        partition: f.int("partition")?,
        at: f.time("at")?,
        writer: f.string("writer")?,
    })
}

fn parse_answer(mut f: Fields) -> Result<Answer, DomainError> {
    let reply = match f.take("outcome")? {
        Value::Union(0, quote) => {
            let mut quote = Fields::of(*quote).map_err(|e| e.within("outcome"))?;
            let currency = Currency::parse(&quote.string("currency")?)?;
            let eta = quote.int("pickup_eta_seconds")?;
            Reply::Quoted {
                price: Price::new(quote.long("price_minor")?, currency)?,
                pickup_eta_seconds: u32::try_from(eta).map_err(|_| {
                    DomainError::new("pickup_eta_seconds", format!("negative: {eta}"))
                })?,
            }
        }
        Value::Union(1, decline) => {
            let mut decline = Fields::of(*decline).map_err(|e| e.within("outcome"))?;
            Reply::Declined {
                reason: decline.string("reason")?,
            }
        }
        other => return Err(wrong("outcome", "a Quote or a Decline", &other)),
    };
    Ok(Answer {
        rfq: CorrelationId::parse(&f.string("correlation_id")?)?,
        provider: ProviderId::parse(&f.string("provider")?)?,
        responded_at: f.time("responded_at")?,
        reply,
    })
}

fn parse_heartbeat(mut f: Fields) -> Result<ProviderHeartbeat, DomainError> {
    let status = match f.take("status")? {
        Value::Enum(_, symbol) if symbol == "ONLINE" => ProviderStatus::Online,
        Value::Enum(_, symbol) if symbol == "OFFLINE" => ProviderStatus::Offline,
        other => return Err(wrong("status", "ONLINE or OFFLINE", &other)),
    };
    let valid_for_ms = f.long("valid_for_ms")?;
    Ok(ProviderHeartbeat {
        provider: ProviderId::parse(&f.string("provider")?)?,
        adapter: f.string("adapter")?,
        region: Region::parse(&f.string("region")?)?,
        position: f.point("position")?,
        status,
        at: f.time("at")?,
        valid_for: Duration::from_millis(
            u64::try_from(valid_for_ms).map_err(|_| {
                DomainError::new("valid_for_ms", format!("negative: {valid_for_ms}"))
            })?,
        ),
    })
}

mod fields;
#[cfg(test)]
mod tests;
