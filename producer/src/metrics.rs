//! The producer's metrics.

use prometheus::{Histogram, IntCounterVec, IntGauge};
use rfq_core::metrics::{counter_vec, gauge, histogram};
use std::sync::LazyLock;

/// RFQ submissions by outcome (accepted, replayed (a retry answered with
/// the RFQ of its `Idempotency-Key`), invalid, unauthorized, forbidden (a
/// partner's or an operator's key), in-flight, overloaded, busy,
/// unavailable).
pub static SUBMISSIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_producer_submissions_total",
        "RFQ submissions by outcome.",
        &["outcome"],
    )
});

/// Providers addressed per accepted RFQ.
pub static ADDRESSED: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "rfq_producer_addressed_providers",
        "Providers an accepted RFQ was addressed to.",
        vec![0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
    )
});

/// Time from request to 202, in seconds.
pub static ACCEPT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "rfq_producer_accept_seconds",
        "Time to accept an RFQ (both Kafka writes and the store write), in seconds.",
        vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ],
    )
});

/// The producer's estimate of RFQs open pipeline-wide (its admission bound).
pub static OPEN_ESTIMATE: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "rfq_producer_open_rfqs",
        "RFQs open pipeline-wide, as estimated by this producer for its admission limit.",
    )
});
