//! Reading one partition up to its end, as the broker gave it.
//!
//! Replays read a partition "to its end": the schema registry its log at
//! start, an explanation the RFQ's partition and the providers topic. The
//! end is the high watermark the broker gives when asked (ListOffsets).
//! tansu 0.6 on SQLite could give one behind the records it already served
//! (an end of 4 for 7 records, seen in CI); our front before the embedded
//! broker never answers an end behind what it has acknowledged or served
//! (`rfq_broker::front`, checked under load by `tests/it/broker_ends.rs`),
//! so the end asked for is where a read stops, on either broker.

use anyhow::Context as _;
use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    message::BorrowedMessage,
};
use std::{ops::ControlFlow, time::Duration};

/// Assigns `partition` of `topic` to `consumer` from offset `start` and
/// gives `each` every record in log order up to `end` (exclusive), which
/// must be reached within `timeout` (an error otherwise). `each` may stop
/// the read early (`ControlFlow::Break`). Blocks: call it off the runtime.
pub fn read_to_end(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    (start, end): (i64, i64),
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    if start >= end {
        return Ok(());
    }
    let reading = || format!("reading partition {partition} of {topic}");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
    consumer.assign(&assignment).with_context(reading)?;
    let give_up = std::time::Instant::now() + timeout;
    loop {
        anyhow::ensure!(
            std::time::Instant::now() < give_up,
            "{} did not reach offset {end} within {timeout:?}",
            reading()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.with_context(reading)?;
        if each(&message).is_break() || message.offset() + 1 >= end {
            return Ok(());
        }
    }
}
