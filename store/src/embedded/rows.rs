//! Reading rows: columns by name, and the RFQs and answers they hold.

use super::{Prepared, backend, corrupt};
use crate::{RfqStatus, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use libsql::{Row, Rows, params::IntoParams};
use rfq_core::{
    Answer, AnswerOutcome, CloseReason, Completion, CorrelationId, Currency, CustomerId, GeoPoint,
    JudgedAnswer, Price, ProviderId, Radius, Region, Reply, ReturnAddress, Rfq,
};
use std::collections::HashMap;

/// Columns read by [`rfq_from_row`] (by name: their order does not matter).
pub(super) const RFQ_COLUMNS: &str = "id, partition, return_topic, customer, region, from_lat, from_lon, \
     to_lat, to_lon, created_at, deadline, addressed, closed_at, close_reason, completion, radius_m";

/// Columns read by [`response_from_row`] (by name: their order does not matter).
pub(super) const RESPONSE_COLUMNS: &str = "rfq_id, provider, seq, kind, price_minor, currency, \
     pickup_eta_seconds, decline_reason, responded_at, received_at, late";

pub(super) fn millis(time: &DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub(super) fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| corrupt(format!("timestamp {millis}")))
}

/// Where each column of a query's result stands, by name: looked up once
/// per statement, so that readers name the columns they read and the order
/// of a SELECT does not matter.
pub(super) struct Columns(HashMap<String, i32>);

impl Columns {
    fn of(rows: &Rows) -> Columns {
        Columns(
            (0..rows.column_count())
                .filter_map(|i| Some((rows.column_name(i)?.to_owned(), i)))
                .collect(),
        )
    }
}

/// One row of a result, read by column name.
pub(super) struct Fields<'a> {
    /// Where each column of the statement is.
    columns: &'a Columns,
    /// The row.
    row: &'a Row,
}

impl Fields<'_> {
    pub(super) fn at(&self, name: &str) -> Result<i32, StoreError> {
        self.columns
            .0
            .get(name)
            .copied()
            .ok_or_else(|| corrupt(format!("no column {name}")))
    }

    pub(super) fn text(&self, name: &str) -> Result<String, StoreError> {
        self.row.get::<String>(self.at(name)?).map_err(corrupt)
    }

    pub(super) fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.row
            .get::<Option<String>>(self.at(name)?)
            .map_err(corrupt)
    }

    pub(super) fn real(&self, name: &str) -> Result<f64, StoreError> {
        self.row.get::<f64>(self.at(name)?).map_err(corrupt)
    }

    pub(super) fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.row.get::<i64>(self.at(name)?).map_err(corrupt)
    }

    pub(super) fn optional_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.row.get::<Option<i64>>(self.at(name)?).map_err(corrupt)
    }
}

/// Runs a query and reads every row of its result with `read`.
pub(super) async fn read_rows<T>(
    connection: &mut Prepared,
    sql: &str,
    params: impl IntoParams,
    read: impl Fn(&Fields<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = connection.statement(sql).await?;
    let mut rows = statement.query(params).await.map_err(backend)?;
    let columns = Columns::of(&rows);
    let mut read_rows = Vec::new();
    let all = async {
        while let Some(row) = rows.next().await.map_err(backend)? {
            read_rows.push(read(&Fields {
                columns: &columns,
                row: &row,
            })?);
        }
        Ok(())
    }
    .await;
    drop(rows);
    // Done with, also on an error: a statement left running would hold
    // its read snapshot.
    statement.reset();
    all.map(|()| read_rows)
}

pub(super) fn rfq_from_row(row: &Fields<'_>) -> Result<(Rfq, RfqStatus), StoreError> {
    let addressed: Vec<String> = serde_json::from_str(&row.text("addressed")?).map_err(corrupt)?;
    let rfq = Rfq {
        id: CorrelationId::parse(&row.text("id")?).map_err(corrupt)?,
        return_address: ReturnAddress {
            partition: i32::try_from(row.int("partition")?).map_err(corrupt)?,
            topic: row.text("return_topic")?,
        },
        customer: CustomerId::parse(&row.text("customer")?).map_err(corrupt)?,
        region: Region::parse(&row.text("region")?).map_err(corrupt)?,
        from: GeoPoint::new(row.real("from_lat")?, row.real("from_lon")?).map_err(corrupt)?,
        to: GeoPoint::new(row.real("to_lat")?, row.real("to_lon")?).map_err(corrupt)?,
        created_at: time(row.int("created_at")?)?,
        deadline: time(row.int("deadline")?)?,
        addressed: addressed
            .iter()
            .map(|p| ProviderId::parse(p))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        completion: Completion::parse_code(&row.text("completion")?).map_err(corrupt)?,
        radius: row
            .optional_int("radius_m")?
            .map(|metres| {
                u32::try_from(metres)
                    .map_err(corrupt)
                    .and_then(|metres| Radius::new(metres).map_err(corrupt))
            })
            .transpose()?,
    };
    let closed_at = row.optional_int("closed_at")?;
    let reason = row.optional_text("close_reason")?;
    let status = match (closed_at, reason) {
        (Some(closed_at), Some(reason)) => RfqStatus::Closed {
            reason: CloseReason::parse(&reason)
                .ok_or_else(|| corrupt(format!("close reason {reason:?}")))?,
            closed_at: time(closed_at)?,
        },
        _ => RfqStatus::Open,
    };
    Ok((rfq, status))
}

pub(super) fn response_from_row(row: &Fields<'_>) -> Result<JudgedAnswer, StoreError> {
    let kind = row.text("kind")?;
    let reply = match AnswerOutcome::parse(&kind) {
        Some(AnswerOutcome::Quoted) => {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Reply::Quoted {
                price: Price::new(row.int("price_minor")?, currency).map_err(corrupt)?,
                pickup_eta_seconds: u32::try_from(row.int("pickup_eta_seconds")?)
                    .map_err(corrupt)?,
            }
        }
        Some(AnswerOutcome::Declined) => Reply::Declined {
            reason: row.optional_text("decline_reason")?.unwrap_or_default(),
        },
        _ => return Err(corrupt(format!("response kind {kind:?}"))),
    };
    let answer = Answer {
        rfq: CorrelationId::parse(&row.text("rfq_id")?).map_err(corrupt)?,
        provider: ProviderId::parse(&row.text("provider")?).map_err(corrupt)?,
        responded_at: time(row.int("responded_at")?)?,
        reply,
    };
    let received_at = time(row.int("received_at")?)?;
    let seq = u32::try_from(row.int("seq")?).map_err(corrupt)?;
    Ok(match row.int("late")? != 0 {
        true => JudgedAnswer::late(answer, received_at, seq),
        false => JudgedAnswer::in_time(answer, received_at, seq),
    })
}
