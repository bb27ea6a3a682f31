//! Reading one partition to its end, when the broker's word on where the
//! end is can be behind.
//!
//! Replays read a partition "to its end": the schema registry its log at
//! start, an explanation the RFQ's partition and the providers topic. The
//! end is the high watermark the broker gives when asked (ListOffsets). The
//! embedded broker (tansu 0.6, on SQLite) can give one behind the records
//! it already serves: seen under load in CI, an end of 4 for a partition of
//! 7 records, and the explanation that stopped there missed three
//! heartbeats. So the end asked for is a floor: past it, [`read_to_end`]
//! reads on while more comes at once — a poll that waits [`TAIL_QUIET`]
//! without a record ends the read — and for [`TAIL`] at most, since a busy
//! partition is never quiet. A reader should fetch with a short wait
//! (`fetch.wait.max.ms`, [`QUICK_FETCH`]): the embedded broker holds a
//! fetch that long even when records arrive.

use anyhow::Context as _;
use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    message::BorrowedMessage,
};
use std::{ops::ControlFlow, time::Duration};

/// Past the end a read was given, how long a poll waits for more before
/// the read ends.
pub const TAIL_QUIET: Duration = Duration::from_millis(250);

/// Past the end a read was given, how long it reads on at most.
pub const TAIL: Duration = Duration::from_secs(2);

/// The fetch wait of a reader to the end (`fetch.wait.max.ms`): a quiet
/// partition is told apart within [`TAIL_QUIET`].
pub const QUICK_FETCH: (&str, &str) = ("fetch.wait.max.ms", "10");

/// Assigns `partition` of `topic` to `consumer` from offset `start` and
/// gives `each` every record in log order: every one up to `end`
/// (exclusive), which must be reached within `timeout` (an error
/// otherwise), then the ones that come at once after it. `each` may stop
/// the read early (`ControlFlow::Break`). Blocks: call it off the runtime.
pub fn read_to_end(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    (start, end): (i64, i64),
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    let reading = || format!("reading partition {partition} of {topic}");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
    consumer.assign(&assignment).with_context(reading)?;
    let give_up = std::time::Instant::now() + timeout;
    // Once `end` is reached: until when reading on may go.
    let mut tail_until = (start >= end).then(|| std::time::Instant::now() + TAIL);
    loop {
        let now = std::time::Instant::now();
        let wait = match tail_until {
            Some(until) if now >= until => return Ok(()),
            Some(_) => TAIL_QUIET,
            None => {
                anyhow::ensure!(
                    now < give_up,
                    "{} did not reach offset {end} within {timeout:?}",
                    reading()
                );
                Duration::from_millis(200)
            }
        };
        let Some(message) = consumer.poll(wait) else {
            if tail_until.is_some() {
                return Ok(());
            }
            continue;
        };
        let message = message.with_context(reading)?;
        if each(&message).is_break() {
            return Ok(());
        }
        if tail_until.is_none() && message.offset() + 1 >= end {
            tail_until = Some(std::time::Instant::now() + TAIL);
        }
    }
}
