//! What the store says of the RFQs a batch's answers name and the window
//! does not know: closed longer ago than the window remembers, closed or
//! opened before a restart or a rebalance, open in another partition, or
//! unknown.
//!
//! Looked up once per batch, all at once (after the batch's pending
//! effects are durable, so the store answers truthfully), before the batch
//! is judged: judging then does no I/O, and a replay after a rebalance —
//! thousands of answers to RFQs closed before it — costs a few store
//! round trips, not one per record.

use futures::StreamExt as _;
use rdkafka::{Message, message::BorrowedMessage};
use rfq_avro::{CodecError, Record};
use rfq_core::CorrelationId;
use rfq_rules::Window;
use rfq_store::{RfqStatus, Store, StoreError};
use std::collections::{HashMap, HashSet};

/// Store reads under way at once while looking up a batch.
const CONCURRENT_READS: usize = 64;

/// What the store said of an RFQ that is neither open in nor known to the
/// window once the lookup is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// No RFQ with this id.
    Unknown,
    /// It belongs to another partition (or topic).
    Elsewhere {
        /// Its partition.
        partition: i32,
        /// Its topic.
        topic: String,
    },
}

/// The lookups of one batch.
#[derive(Debug, Default)]
pub(crate) struct Lookups(HashMap<CorrelationId, Found>);

impl Lookups {
    /// What the store said of `id`, if it was looked up and is not in the
    /// window.
    pub(crate) fn get(&self, id: &CorrelationId) -> Option<&Found> {
        self.0.get(id)
    }

    /// The RFQs whose answers in `batch` (decoded as `records`) the window
    /// cannot judge by itself, with the partition each was read in: not
    /// known to it, nor opened by an RFQ record earlier in the batch.
    pub(crate) fn wanted(
        window: &Window,
        batch: &[BorrowedMessage<'_>],
        records: &[Result<Record, CodecError>],
    ) -> Vec<(CorrelationId, i32)> {
        let mut opened = HashSet::new();
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        for (message, record) in batch.iter().zip(records) {
            match record {
                Ok(Record::Rfq(rfq)) => {
                    opened.insert(rfq.id);
                }
                Ok(Record::Answer(answer))
                    if !window.knows(&answer.rfq)
                        && !opened.contains(&answer.rfq)
                        && seen.insert(answer.rfq) =>
                {
                    wanted.push((answer.rfq, message.partition()));
                }
                _ => {}
            }
        }
        wanted
    }

    /// Reads the `wanted` RFQs from `store`, concurrently: one open or
    /// closed in the partition it was read in is taken up by `window`
    /// (recovered or recalled, with its stored answers); the others are
    /// noted.
    pub(crate) async fn fetch(
        store: &dyn Store,
        window: &mut Window,
        wanted: Vec<(CorrelationId, i32)>,
    ) -> Result<Lookups, StoreError> {
        let reads = futures::stream::iter(wanted)
            .map(|(id, partition)| async move {
                let Some(stored) = store.rfq(&id).await? else {
                    return Ok((id, None));
                };
                let home = stored.rfq.return_address.partition == partition;
                // Its answers are wanted only if it is taken up here.
                let kept = match home {
                    true => store.responses(&id).await?,
                    false => Vec::new(),
                };
                Ok::<_, StoreError>((id, Some((stored, home, kept))))
            })
            .buffer_unordered(CONCURRENT_READS)
            .collect::<Vec<_>>()
            .await;
        let mut lookups = Lookups::default();
        for read in reads {
            let found = match read? {
                (id, None) => (id, Found::Unknown),
                (_, Some((stored, true, kept))) => {
                    match stored.status {
                        RfqStatus::Open => window.recover(&stored.rfq, &kept),
                        RfqStatus::Closed { .. } => window.recall(&stored.rfq, &kept),
                    }
                    continue;
                }
                (id, Some((stored, false, _))) => {
                    let home = stored.rfq.return_address;
                    let found = Found::Elsewhere {
                        partition: home.partition,
                        topic: home.topic,
                    };
                    (id, found)
                }
            };
            lookups.0.insert(found.0, found.1);
        }
        Ok(lookups)
    }
}
