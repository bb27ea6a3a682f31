//! Live events: `GET /rfqs/{id}/events`, a Server-Sent Events stream of an
//! RFQ's answers as the aggregator keeps them, then its close.
//!
//! What a stream sends always comes from the store (answers by their
//! [`JudgedAnswer::seq`](rfq_core::JudgedAnswer::seq), the close from the
//! RFQ's status); what makes it look again is a change notice from the
//! aggregator ([`rfq_core::kafka::notices`]), read from the events topic
//! by [`follow`], or [`RECHECK`] passing without one. So the aggregator and
//! the API can be separate processes on separate hosts, a notice lost costs
//! latency and never an event, and a stream resumed with `Last-Event-ID`
//! sends exactly what follows that number.
//!
//! Streams are bounded in total (`503`) and per customer (`429`): each holds
//! a connection and wakes on its RFQ's notices.

mod events;
mod follow;
mod limits;
#[cfg(test)]
mod tests;

pub(crate) use events::events;
pub use follow::follow;
pub use limits::{LiveSettings, Streams};

use rfq_core::CorrelationId;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the events route needs.
#[derive(Clone)]
pub struct LiveEvents {
    /// The RFQs watched, woken by [`follow`].
    pub live: Live,
    /// The streams open, and their bounds.
    pub streams: Streams,
    /// Ends every stream (a client resumes elsewhere with `Last-Event-ID`):
    /// a server stopping does not wait for RFQs to close.
    pub shutdown: CancellationToken,
}

impl LiveEvents {
    /// Starts reading change notices for these streams (see [`follow`]):
    /// returns the reading, to run until shutdown.
    pub async fn follow(
        &self,
        kafka: &rfq_core::kafka::KafkaSettings,
        topics: &rfq_core::kafka::TopicSettings,
    ) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + Send + 'static> {
        follow(kafka, topics, self.live.clone(), self.shutdown.clone()).await
    }

    /// Nothing watched or open yet, within `settings`, ending at `shutdown`.
    pub fn new(settings: LiveSettings, shutdown: CancellationToken) -> LiveEvents {
        LiveEvents {
            live: Live::default(),
            streams: Streams::new(settings),
            shutdown,
        }
    }
}

/// How long a stream waits for a notice before it reads the store anyway.
pub const RECHECK: Duration = Duration::from_secs(1);

/// A watched RFQ: its counter's sender and how many streams watch it.
type Watched = (watch::Sender<u64>, usize);

/// The RFQs streams are watching, each with a counter of the notices read
/// for it: a stream waits for the counter to move.
#[derive(Clone, Default)]
pub struct Live {
    /// Watched RFQs.
    watched: Arc<Mutex<HashMap<CorrelationId, Watched>>>,
}

impl Live {
    /// Starts watching `rfq`: the watch's counter moves at each notice read
    /// for it from now on.
    pub fn watch(&self, rfq: CorrelationId) -> Watch {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        let (sender, watchers) = watched
            .entry(rfq)
            .or_insert_with(|| (watch::Sender::new(0), 0));
        *watchers += 1;
        Watch {
            changes: sender.subscribe(),
            rfq,
            live: self.clone(),
        }
    }

    /// A notice for `rfq` was read: wakes its streams. Whether one watches.
    pub fn notify(&self, rfq: &CorrelationId) -> bool {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        match watched.get(rfq) {
            Some((sender, _)) => {
                sender.send_modify(|count| *count += 1);
                true
            }
            None => false,
        }
    }

    /// How many RFQs are watched.
    pub fn watched(&self) -> usize {
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One stream's watch of one RFQ; dropping it stops watching.
pub struct Watch {
    /// Moves at each notice for the RFQ.
    changes: watch::Receiver<u64>,
    /// The RFQ.
    rfq: CorrelationId,
    /// Where it is registered.
    live: Live,
}

impl Watch {
    /// Waits for a notice since the last call (or since the watch began),
    /// or for `RECHECK`; whichever comes first.
    pub async fn changed(&mut self) {
        // An error means the sender is gone, which cannot happen while this
        // watch holds its entry: then the timeout paces the re-reads.
        let _ = tokio::time::timeout(RECHECK, self.changes.changed()).await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self
            .live
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, watchers)) = watched.get_mut(&self.rfq) {
            *watchers -= 1;
            if *watchers == 0 {
                watched.remove(&self.rfq);
            }
        }
    }
}
