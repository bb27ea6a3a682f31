//! Rows of the ScyllaDB tables and their mapping to domain types, kept apart
//! from the driver calls so that it is tested without a server.
//!
//! Reading parses once, at this edge: a row that does not make a valid
//! domain value is a [`StoreError::Corrupt`], never a panic.

mod stamps;

pub use stamps::{OPENING_STAMP, Stamped, first_wins_stamp, ttl};

use crate::{RfqStatus, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use rfq_core::{
    Answer, AnswerOutcome, CloseReason, Completion, CorrelationId, Currency, CustomerId, GeoPoint,
    JudgedAnswer, Price, ProviderId, Radius, Region, Reply, ReturnAddress, Rfq,
};
use scylla::{DeserializeRow, SerializeRow, value::CqlTimestamp};
use uuid::Uuid;

/// Number of buckets of `open_rfqs` (part of the schema: changing it needs
/// a migration that moves the rows).
pub const OPEN_BUCKETS: i16 = 64;

/// The columns [`RfqRow`] reads, in its field order.
pub const RFQ_COLUMNS: &str = "id, partition, return_topic, customer, region, from_lat, \
     from_lon, to_lat, to_lon, created_at, deadline, addressed, completion, radius_m, closed_at, \
     close_reason";

/// The columns [`ResponseRow`] reads, in its field order.
pub const RESPONSE_COLUMNS: &str = "rfq_id, provider, kind, price_minor, currency, \
     pickup_eta_seconds, decline_reason, responded_at, received_at, late, seq";

/// One row of `rfqs`. Every column but the key is optional: a row can hold
/// only its close cells if a close were ever written before its RFQ.
#[derive(Debug, Clone, PartialEq, DeserializeRow)]
pub struct RfqRow {
    /// Correlation id.
    pub id: Uuid,
    /// Return address: partition of the quotes topic.
    pub partition: Option<i32>,
    /// Return address: the quotes topic.
    pub return_topic: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
    /// Pickup region (geohash cell).
    pub region: Option<String>,
    /// Pickup latitude.
    pub from_lat: Option<f64>,
    /// Pickup longitude.
    pub from_lon: Option<f64>,
    /// Drop-off latitude.
    pub to_lat: Option<f64>,
    /// Drop-off longitude.
    pub to_lon: Option<f64>,
    /// When the RFQ was accepted.
    pub created_at: Option<CqlTimestamp>,
    /// When it closes at the latest.
    pub deadline: Option<CqlTimestamp>,
    /// Providers addressed (an empty list reads back as null).
    pub addressed: Option<Vec<String>>,
    /// Completion rule code (`all`, `first-n:3`, ...).
    pub completion: Option<String>,
    /// Vicinity radius in metres (null before schema version 4).
    pub radius_m: Option<i32>,
    /// When it closed, if it did.
    pub closed_at: Option<CqlTimestamp>,
    /// Why it closed, if it did.
    pub close_reason: Option<String>,
}

/// The values of `INSERT INTO rfqs (...)`: every column of [`RfqRow`] but
/// the close columns, bound by name.
#[derive(Debug, Clone, PartialEq, SerializeRow)]
pub struct RfqValues {
    /// Correlation id.
    pub id: Uuid,
    /// Return address: partition of the quotes topic.
    pub partition: i32,
    /// Return address: the quotes topic.
    pub return_topic: String,
    /// Customer id.
    pub customer: String,
    /// Pickup region (geohash cell).
    pub region: String,
    /// Pickup latitude.
    pub from_lat: f64,
    /// Pickup longitude.
    pub from_lon: f64,
    /// Drop-off latitude.
    pub to_lat: f64,
    /// Drop-off longitude.
    pub to_lon: f64,
    /// When the RFQ was accepted.
    pub created_at: CqlTimestamp,
    /// When it closes at the latest.
    pub deadline: CqlTimestamp,
    /// Providers addressed.
    pub addressed: Vec<String>,
    /// Completion rule code (`all`, `first-n:3`, ...).
    pub completion: String,
    /// Vicinity radius in metres (none for an RFQ from before vicinity).
    pub radius_m: Option<i32>,
}

/// The columns of [`RfqValues`].
pub const RFQ_VALUES_COLUMNS: &str = "id, partition, return_topic, customer, region, from_lat, \
     from_lon, to_lat, to_lon, created_at, deadline, addressed, completion, radius_m";

/// One row of `responses` (read and written by name).
#[derive(Debug, Clone, PartialEq, DeserializeRow, SerializeRow)]
pub struct ResponseRow {
    /// The RFQ answered.
    pub rfq_id: Uuid,
    /// Who answered.
    pub provider: String,
    /// The reply: quoted or declined ([`AnswerOutcome::as_str`]).
    pub kind: String,
    /// Price in minor units (quotes).
    pub price_minor: Option<i64>,
    /// ISO 4217 code (quotes).
    pub currency: Option<String>,
    /// Pickup ETA (quotes).
    pub pickup_eta_seconds: Option<i32>,
    /// Why it declined (declines).
    pub decline_reason: Option<String>,
    /// When the provider answered (its clock).
    pub responded_at: CqlTimestamp,
    /// When the answer reached the quotes topic.
    pub received_at: CqlTimestamp,
    /// Arrived after the deadline.
    pub late: bool,
    /// Its place among the RFQ's kept answers ([`JudgedAnswer::seq`]);
    /// none in rows written before schema version 3.
    pub seq: Option<i32>,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// A domain time as a CQL timestamp (milliseconds).
pub fn cql_time(time: &DateTime<Utc>) -> CqlTimestamp {
    CqlTimestamp(time.timestamp_millis())
}

fn time(at: CqlTimestamp) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(at.0)
        .single()
        .ok_or_else(|| corrupt(format!("timestamp {}", at.0)))
}

/// The `open_rfqs` bucket of an RFQ: low bits of its random id, uniform.
pub fn bucket(id: &CorrelationId) -> i16 {
    let bytes = id.as_uuid().as_bytes();
    let low = u16::from_le_bytes([bytes[14], bytes[15]]);
    // The modulus fits: OPEN_BUCKETS is a small positive constant.
    i16::try_from(low % OPEN_BUCKETS.unsigned_abs()).unwrap_or(0)
}

impl RfqValues {
    /// The values that insert `rfq` into `rfqs`.
    pub fn new(rfq: &Rfq) -> RfqValues {
        RfqValues {
            id: *rfq.id.as_uuid(),
            partition: rfq.return_address.partition,
            return_topic: rfq.return_address.topic.clone(),
            customer: rfq.customer.as_str().to_owned(),
            region: rfq.region.as_str().to_owned(),
            from_lat: rfq.from.lat(),
            from_lon: rfq.from.lon(),
            to_lat: rfq.to.lat(),
            to_lon: rfq.to.lon(),
            created_at: cql_time(&rfq.created_at),
            deadline: cql_time(&rfq.deadline),
            addressed: rfq
                .addressed
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            completion: rfq.completion.code(),
            radius_m: rfq
                .radius
                .map(|radius| i32::try_from(radius.metres()).unwrap_or(i32::MAX)),
        }
    }
}

impl RfqRow {
    /// The RFQ and its status; `None` for a row that holds no RFQ (only the
    /// cells of a close written before it).
    pub fn into_domain(self) -> Result<Option<(Rfq, RfqStatus)>, StoreError> {
        let Some(created_at) = self.created_at else {
            return Ok(None);
        };
        let need = |column: &str| corrupt(format!("rfq {}: {column} is null", self.id));
        let rfq = Rfq {
            id: CorrelationId::from(self.id),
            return_address: ReturnAddress {
                partition: self.partition.ok_or_else(|| need("partition"))?,
                topic: self
                    .return_topic
                    .clone()
                    .ok_or_else(|| need("return_topic"))?,
            },
            customer: CustomerId::parse(self.customer.as_deref().ok_or_else(|| need("customer"))?)
                .map_err(corrupt)?,
            region: Region::parse(self.region.as_deref().ok_or_else(|| need("region"))?)
                .map_err(corrupt)?,
            from: GeoPoint::new(
                self.from_lat.ok_or_else(|| need("from_lat"))?,
                self.from_lon.ok_or_else(|| need("from_lon"))?,
            )
            .map_err(corrupt)?,
            to: GeoPoint::new(
                self.to_lat.ok_or_else(|| need("to_lat"))?,
                self.to_lon.ok_or_else(|| need("to_lon"))?,
            )
            .map_err(corrupt)?,
            created_at: time(created_at)?,
            deadline: time(self.deadline.ok_or_else(|| need("deadline"))?)?,
            addressed: self
                .addressed
                .unwrap_or_default()
                .iter()
                .map(|p| ProviderId::parse(p))
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            completion: Completion::parse_code(
                self.completion
                    .as_deref()
                    .ok_or_else(|| need("completion"))?,
            )
            .map_err(corrupt)?,
            radius: self
                .radius_m
                .map(|metres| {
                    u32::try_from(metres)
                        .map_err(corrupt)
                        .and_then(|metres| Radius::new(metres).map_err(corrupt))
                })
                .transpose()?,
        };
        let status = match (self.closed_at, self.close_reason) {
            (Some(closed_at), Some(reason)) => RfqStatus::Closed {
                reason: CloseReason::parse(&reason)
                    .ok_or_else(|| corrupt(format!("close reason {reason:?}")))?,
                closed_at: time(closed_at)?,
            },
            _ => RfqStatus::Open,
        };
        Ok(Some((rfq, status)))
    }
}

impl ResponseRow {
    /// The row of a kept answer.
    pub fn new(kept: &JudgedAnswer) -> ResponseRow {
        let answer = &kept.answer;
        let mut row = ResponseRow {
            rfq_id: *answer.rfq.as_uuid(),
            provider: answer.provider.as_str().to_owned(),
            kind: answer.reply.outcome().as_str().to_owned(),
            price_minor: None,
            currency: None,
            pickup_eta_seconds: None,
            decline_reason: None,
            responded_at: cql_time(&answer.responded_at),
            received_at: cql_time(&kept.received_at),
            late: kept.is_late(),
            seq: Some(i32::try_from(kept.seq).unwrap_or(i32::MAX)),
        };
        match &answer.reply {
            Reply::Quoted {
                price,
                pickup_eta_seconds,
            } => {
                row.price_minor = Some(price.minor());
                row.currency = Some(price.currency().as_str().to_owned());
                row.pickup_eta_seconds =
                    Some(i32::try_from(*pickup_eta_seconds).unwrap_or(i32::MAX));
            }
            Reply::Declined { reason } => {
                row.decline_reason = Some(reason.clone());
            }
        }
        row
    }

    /// The kept answer.
    pub fn into_domain(self) -> Result<JudgedAnswer, StoreError> {
        let reply = match AnswerOutcome::parse(&self.kind) {
            Some(AnswerOutcome::Quoted) => {
                let (Some(minor), Some(currency), Some(eta)) =
                    (self.price_minor, &self.currency, self.pickup_eta_seconds)
                else {
                    return Err(corrupt(format!(
                        "quote of {} to {} lacks price, currency or eta",
                        self.provider, self.rfq_id
                    )));
                };
                Reply::Quoted {
                    price: Price::new(minor, Currency::parse(currency).map_err(corrupt)?)
                        .map_err(corrupt)?,
                    pickup_eta_seconds: u32::try_from(eta).map_err(corrupt)?,
                }
            }
            Some(AnswerOutcome::Declined) => Reply::Declined {
                reason: self.decline_reason.unwrap_or_default(),
            },
            _ => return Err(corrupt(format!("response kind {:?}", self.kind))),
        };
        let answer = Answer {
            rfq: CorrelationId::from(self.rfq_id),
            provider: ProviderId::parse(&self.provider).map_err(corrupt)?,
            responded_at: time(self.responded_at)?,
            reply,
        };
        let received_at = time(self.received_at)?;
        // 0: written before answers were numbered (see `Store::responses`).
        let seq = u32::try_from(self.seq.unwrap_or(0)).map_err(corrupt)?;
        Ok(match self.late {
            true => JudgedAnswer::late(answer, received_at, seq),
            false => JudgedAnswer::in_time(answer, received_at, seq),
        })
    }
}

#[cfg(test)]
mod tests;
