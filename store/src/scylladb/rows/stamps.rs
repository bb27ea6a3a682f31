//! Write timestamps and TTLs: the stamps that make the first value win
//! without a read, and the bind markers that carry them.

use chrono::{DateTime, Utc};
use scylla::{
    SerializeRow,
    serialize::{
        SerializationError,
        row::{RowSerializationContext, SerializeRow},
        writers::RowWriter,
    },
};
use std::time::Duration;

/// Longest TTL ScyllaDB accepts (20 years), in seconds.
const MAX_TTL_SECONDS: i64 = 630_720_000;

/// Write timestamps that make the *first* value win. ScyllaDB keeps the
/// cell with the highest write timestamp, so a value stamped with
/// `INVERSION_BASE - t` beats every value stamped with a later `t`: the
/// earliest close of an RFQ and the earliest answer of a provider win,
/// without a read or a lightweight transaction, and a replay (same `t`)
/// rewrites identical cells. The base is twice 2025-01-01 in microseconds:
/// for any `t` after it the stamp lies in the past (ScyllaDB refuses
/// stamps more than 3 days ahead, `restrict_future_timestamp`), and it stays
/// above [`OPENING_STAMP`] until 2079.
const INVERSION_BASE: i64 = 2 * 1_735_689_600_000_000;

/// Write timestamp of the writes that open an RFQ: below every first-wins
/// stamp, so a close (which deletes the RFQ's open-index entry) always
/// shadows a replayed open, whatever the clocks say.
pub const OPENING_STAMP: i64 = 1;

/// The values of `INSERT ... USING TIMESTAMP ? AND TTL ?`: a row's columns
/// (bound by name), then the write timestamp and the TTL, which end the
/// statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<R> {
    /// The row's values.
    pub row: R,
    /// Write timestamp, in microseconds.
    pub stamp: i64,
    /// Time to live, in seconds.
    pub ttl: i32,
}

/// The bind markers of `USING TIMESTAMP ? AND TTL ?`.
#[derive(SerializeRow)]
struct WriteOptions {
    /// The write timestamp (decides which write wins).
    #[scylla(rename = "[timestamp]")]
    stamp: i64,
    /// Seconds until the row expires.
    #[scylla(rename = "[ttl]")]
    ttl: i32,
}

impl<R: SerializeRow> SerializeRow for Stamped<R> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        let columns = ctx.columns();
        let (row, options) = columns.split_at(columns.len().saturating_sub(2));
        self.row
            .serialize(&RowSerializationContext::from_specs(row), writer)?;
        let options_values = WriteOptions {
            stamp: self.stamp,
            ttl: self.ttl,
        };
        options_values.serialize(&RowSerializationContext::from_specs(options), writer)
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Write timestamp under which the earliest `at` wins (see [`INVERSION_BASE`]).
pub fn first_wins_stamp(at: &DateTime<Utc>) -> i64 {
    INVERSION_BASE - at.timestamp_micros()
}

/// A TTL in seconds: what is left until `until` (nothing if it passed) plus
/// `keep`, within the bounds ScyllaDB accepts.
pub fn ttl(until: &DateTime<Utc>, now: &DateTime<Utc>, keep: Duration) -> i32 {
    let left = (*until - *now).num_seconds().max(0);
    let keep = i64::try_from(keep.as_secs()).unwrap_or(MAX_TTL_SECONDS);
    let total = left.saturating_add(keep).clamp(1, MAX_TTL_SECONDS);
    i32::try_from(total).unwrap_or(i32::MAX)
}
