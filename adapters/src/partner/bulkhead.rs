//! Bounded concurrency per partner (a bulkhead with its own queue) and the
//! retry budget: one slow or failing partner can hold at most its own
//! places, never the adapter's other partners' or unbounded memory.

use prometheus::IntGauge;
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// The bulkhead and its queue were full.
    QueueFull,
    /// No place came free before the answers were due.
    NoTime,
}

/// A partner's places for calls in flight, and its queue.
#[derive(Debug)]
pub struct Bulkhead {
    /// One permit per call in flight.
    places: Arc<Semaphore>,
    /// Calls waiting at most.
    queue_limit: usize,
    /// Calls waiting now.
    waiting: AtomicUsize,
}

impl Bulkhead {
    /// `size` calls in flight, `queue_limit` waiting.
    pub fn new(size: usize, queue_limit: usize) -> Bulkhead {
        Bulkhead {
            places: Arc::new(Semaphore::new(size.max(1))),
            queue_limit,
            waiting: AtomicUsize::new(0),
        }
    }

    /// A place for one call, waiting in the queue until `until` at most;
    /// `gauges` (queued, in flight) follow the queue and the places.
    pub async fn enter(
        &self,
        until: tokio::time::Instant,
        gauges: &(IntGauge, IntGauge),
    ) -> Result<Place, Shed> {
        let (queue_gauge, in_flight) = gauges;
        let place = |permit| {
            in_flight.inc();
            Place {
                _permit: permit,
                in_flight: in_flight.clone(),
            }
        };
        if let Ok(permit) = self.places.clone().try_acquire_owned() {
            return Ok(place(permit));
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        queue_gauge.inc();
        let _leave = Leave(&self.waiting, queue_gauge);
        if queued >= self.queue_limit {
            return Err(Shed::QueueFull);
        }
        match tokio::time::timeout_at(until, self.places.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(place(permit)),
            // The semaphore is never closed; treat it as no time left.
            Ok(Err(_)) | Err(_) => Err(Shed::NoTime),
        }
    }

    /// Calls waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// A call's place in the bulkhead, given back (and counted out of the
/// in-flight gauge) when dropped, however the call ends.
#[derive(Debug)]
pub struct Place {
    /// The place.
    _permit: OwnedSemaphorePermit,
    /// Calls in flight.
    in_flight: IntGauge,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

/// Leaves the queue when dropped (admitted, shed or cancelled).
struct Leave<'a>(&'a AtomicUsize, &'a IntGauge);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        self.1.dec();
    }
}

/// Retries in reserve: each call earns `ratio` of one, up to `RESERVE`; a
/// retry spends one.
#[derive(Debug)]
pub struct RetryBudget {
    /// Earned per call.
    ratio: f64,
    /// Retries in reserve.
    tokens: Mutex<f64>,
}

/// Retries a budget holds at most.
const RESERVE: f64 = 10.0;

impl RetryBudget {
    /// A budget earning `ratio` retries per call, starting full.
    pub fn new(ratio: f64) -> RetryBudget {
        RetryBudget {
            ratio: ratio.clamp(0.0, 1.0),
            tokens: Mutex::new(RESERVE),
        }
    }

    /// A call was made.
    pub fn earn(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.ratio).min(RESERVE);
    }

    /// Whether a retry may be made (and spends it).
    pub fn spend(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gauges() -> (IntGauge, IntGauge) {
        (
            IntGauge::new("q", "q").unwrap(),
            IntGauge::new("f", "f").unwrap(),
        )
    }

    #[tokio::test]
    async fn the_queue_is_bounded_and_a_full_one_sheds_at_once() {
        let bulkhead = Arc::new(Bulkhead::new(1, 1));
        let gauges = gauges();
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        let first = bulkhead.enter(far, &gauges).await.unwrap();
        assert_eq!(gauges.1.get(), 1);
        let waiter = tokio::spawn({
            let (bulkhead, gauges) = (bulkhead.clone(), gauges.clone());
            async move { bulkhead.enter(far, &gauges).await.map(drop) }
        });
        while bulkhead.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gauges.0.get(), 1);
        assert_eq!(
            bulkhead.enter(far, &gauges).await.unwrap_err(),
            Shed::QueueFull
        );
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(bulkhead.waiting(), 0);
        assert_eq!((gauges.0.get(), gauges.1.get()), (0, 0));
    }

    #[tokio::test]
    async fn a_queued_call_gives_up_when_its_time_is_up() {
        let bulkhead = Bulkhead::new(1, 4);
        let gauges = gauges();
        let soon = tokio::time::Instant::now() + Duration::from_millis(20);
        let _held = bulkhead.enter(soon, &gauges).await.unwrap();
        assert_eq!(
            bulkhead.enter(soon, &gauges).await.unwrap_err(),
            Shed::NoTime
        );
        assert_eq!(bulkhead.waiting(), 0);
    }

    #[test]
    fn retries_are_earned_by_calls() {
        let budget = RetryBudget::new(0.5);
        let spent = (0..20).filter(|_| budget.spend()).count();
        assert_eq!(spent, 10);
        budget.earn();
        assert!(!budget.spend());
        budget.earn();
        assert!(budget.spend());
    }
}
