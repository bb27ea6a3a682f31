//! What one customer may submit: a rate (a token bucket) and a number of
//! RFQs open at once, so that one customer's burst or runaway client
//! cannot take the pipeline's capacity from the others (the pipeline-wide
//! bound is [`crate::admission`]).
//!
//! Both are kept by each producer instance in memory: with `n` producers
//! behind a balancer a customer gets up to `n` times the limits. An RFQ
//! counts as open until its deadline (one that closed earlier still
//! counts): the producer learns of closes only through the store, and the
//! deadline is the longest it can be open.

use rfq_core::CustomerId;
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, hash_map::Entry},
    sync::{Mutex, PoisonError},
    time::Instant,
};

/// The per-customer limits.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CustomerLimitSettings {
    /// RFQs per second one customer may submit, sustained (per producer
    /// instance); beyond it `POST /rfqs` answers `429` with `Retry-After`.
    #[arg(long, env = "RFQ_CUSTOMER_RATE", default_value_t = 20.0)]
    pub customer_rate: f64,

    /// RFQs one customer may submit at once above the rate (the bucket).
    #[arg(long, env = "RFQ_CUSTOMER_BURST", default_value_t = 40)]
    pub customer_burst: u32,

    /// RFQs one customer may have open at once (until their deadlines, per
    /// producer instance); beyond it `429` with `Retry-After`.
    #[arg(long, env = "RFQ_CUSTOMER_MAX_OPEN_RFQS", default_value_t = 1_000)]
    pub customer_max_open_rfqs: u32,
}

/// Why a customer must wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Limited {
    /// Faster than the rate allows.
    Rate {
        /// Seconds until a submission is allowed again.
        retry_after: u64,
    },
    /// As many RFQs open as allowed.
    Open {
        /// The limit.
        limit: u32,
        /// Seconds until the first of them passes its deadline.
        retry_after: u64,
    },
}

/// One customer's state.
#[derive(Debug)]
struct Usage {
    /// Tokens in the bucket, as of `at`.
    tokens: f64,
    /// When `tokens` was computed.
    at: Instant,
    /// Deadlines of the RFQs counted as open, earliest first.
    open: BinaryHeap<Reverse<Instant>>,
}

/// The limits of every customer seen.
#[derive(Debug)]
pub struct CustomerLimits {
    /// The settings.
    settings: CustomerLimitSettings,
    /// By customer.
    usage: Mutex<HashMap<CustomerId, Usage>>,
}

impl CustomerLimits {
    /// No customer seen yet.
    pub fn new(settings: CustomerLimitSettings) -> CustomerLimits {
        CustomerLimits {
            settings,
            usage: Mutex::default(),
        }
    }

    /// Takes a token for a submission of `customer` now, if the rate and
    /// the open RFQs allow it.
    pub fn admit(&self, customer: &CustomerId, now: Instant) -> Result<(), Limited> {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        if usage.len() > 100_000 {
            // Forget customers at rest (full bucket, nothing open).
            let burst = f64::from(self.settings.customer_burst);
            usage.retain(|_, u| !u.open.is_empty() || u.tokens_at(now, &self.settings) < burst);
        }
        let state = match usage.entry(customer.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Usage {
                tokens: f64::from(self.settings.customer_burst),
                at: now,
                open: BinaryHeap::new(),
            }),
        };
        while state
            .open
            .peek()
            .is_some_and(|Reverse(deadline)| *deadline <= now)
        {
            state.open.pop();
        }
        if state.open.len() >= self.settings.customer_max_open_rfqs as usize {
            let first = state.open.peek().map_or(now, |Reverse(deadline)| *deadline);
            return Err(Limited::Open {
                limit: self.settings.customer_max_open_rfqs,
                retry_after: seconds_until(now, first),
            });
        }
        let tokens = state.tokens_at(now, &self.settings);
        if tokens < 1.0 {
            let wait = (1.0 - tokens) / self.settings.customer_rate.max(f64::MIN_POSITIVE);
            return Err(Limited::Rate {
                retry_after: wait.ceil().clamp(1.0, 3600.0) as u64,
            });
        }
        state.tokens = tokens - 1.0;
        state.at = now;
        Ok(())
    }

    /// An RFQ of `customer` was accepted: it counts as open until `deadline`.
    pub fn opened(&self, customer: &CustomerId, deadline: Instant) {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = usage.get_mut(customer) {
            state.open.push(Reverse(deadline));
        }
    }
}

impl Usage {
    fn tokens_at(&self, now: Instant, settings: &CustomerLimitSettings) -> f64 {
        let refilled =
            now.saturating_duration_since(self.at).as_secs_f64() * settings.customer_rate;
        (self.tokens + refilled).min(f64::from(settings.customer_burst))
    }
}

/// Whole seconds from `now` until `then`, at least 1.
fn seconds_until(now: Instant, then: Instant) -> u64 {
    then.saturating_duration_since(now)
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(rate: f64, burst: u32, open: u32) -> CustomerLimits {
        CustomerLimits::new(CustomerLimitSettings {
            customer_rate: rate,
            customer_burst: burst,
            customer_max_open_rfqs: open,
        })
    }

    #[test]
    fn a_burst_then_the_rate_per_customer() {
        let limits = limits(2.0, 3, 100);
        let (alice, bob) = (
            CustomerId::parse("alice").unwrap(),
            CustomerId::parse("bob").unwrap(),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            limits.admit(&alice, t0).unwrap();
        }
        assert_eq!(
            limits.admit(&alice, t0),
            Err(Limited::Rate { retry_after: 1 })
        );
        limits.admit(&bob, t0).expect("bob has his own bucket");
        // Half a second at 2/s refills one token.
        limits
            .admit(&alice, t0 + Duration::from_millis(500))
            .unwrap();
        assert!(
            limits
                .admit(&alice, t0 + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn open_rfqs_count_until_their_deadlines() {
        let limits = limits(1000.0, 1000, 2);
        let alice = CustomerId::parse("alice").unwrap();
        let t0 = Instant::now();
        for seconds in [10, 30] {
            limits.admit(&alice, t0).unwrap();
            limits.opened(&alice, t0 + Duration::from_secs(seconds));
        }
        assert_eq!(
            limits.admit(&alice, t0),
            Err(Limited::Open {
                limit: 2,
                retry_after: 10
            })
        );
        limits
            .admit(&alice, t0 + Duration::from_secs(10))
            .expect("the first passed its deadline");
    }
}
