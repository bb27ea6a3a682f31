//! How many live streams may be open: in all, and per key holder (a
//! customer, a partner, an operator: who asks, not whose RFQ it is, so a
//! partner's streams never use up its customers' places).

use rfq_core::auth::Principal;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// Bounds on live event streams.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveSettings {
    /// Live event streams (`GET /rfqs/{id}/events`) open at most, in all;
    /// one more is answered `503` with `Retry-After`.
    #[arg(long, env = "RFQ_EVENTS_MAX_STREAMS", default_value_t = 10_000)]
    pub events_max_streams: usize,

    /// Live event streams open at most per customer (per key holder: a
    /// partner's or operator's streams count as theirs); one more is
    /// answered `429` with `Retry-After`.
    #[arg(
        long,
        env = "RFQ_EVENTS_MAX_STREAMS_PER_CUSTOMER",
        default_value_t = 20
    )]
    pub events_max_streams_per_customer: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}

/// Why a stream may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// As many streams as allowed are open in all.
    Total,
    /// As many streams as allowed are open for this customer.
    Customer,
}

/// The streams open, by customer.
#[derive(Debug, Clone)]
pub struct Streams {
    /// The bounds.
    settings: LiveSettings,
    /// Open streams by customer (absent: none).
    open: Arc<Mutex<HashMap<Principal, usize>>>,
}

impl Streams {
    /// No stream open yet.
    pub fn new(settings: LiveSettings) -> Streams {
        Streams {
            settings,
            open: Arc::default(),
        }
    }

    /// Opens a stream for `customer`, if the bounds allow; it counts until
    /// the permit is dropped.
    pub fn open(&self, customer: &Principal) -> Result<Permit, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = open.values().sum();
        if total >= self.settings.events_max_streams {
            return Err(Refused::Total);
        }
        let mine = open.entry(customer.clone()).or_insert(0);
        if *mine >= self.settings.events_max_streams_per_customer {
            return Err(Refused::Customer);
        }
        *mine += 1;
        Ok(Permit {
            customer: customer.clone(),
            streams: self.clone(),
        })
    }

    /// Streams open in all.
    pub fn open_count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }
}

/// One open stream; dropping it closes it.
#[derive(Debug)]
pub struct Permit {
    /// Whose.
    customer: Principal,
    /// Where it counts.
    streams: Streams,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(mine) = open.get_mut(&self.customer) {
            *mine -= 1;
            if *mine == 0 {
                open.remove(&self.customer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_bounded_per_customer_and_in_all() {
        let streams = Streams::new(LiveSettings {
            events_max_streams: 3,
            events_max_streams_per_customer: 2,
        });
        let (alice, bob) = (
            Principal::parse("alice").unwrap(),
            Principal::parse("partner:bob").unwrap(),
        );
        let first = streams.open(&alice).unwrap();
        let _second = streams.open(&alice).unwrap();
        assert_eq!(streams.open(&alice).unwrap_err(), Refused::Customer);
        let _third = streams.open(&bob).unwrap();
        assert_eq!(streams.open(&bob).unwrap_err(), Refused::Total);
        drop(first);
        assert_eq!(streams.open_count(), 2);
        streams
            .open(&alice)
            .expect("a stream closed frees its place");
    }
}
