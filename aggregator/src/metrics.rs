//! The aggregator's metrics.

use prometheus::{IntCounterVec, IntGauge};
use rfq_core::metrics::{counter_vec, gauge};
use std::sync::LazyLock;

/// Answers by verdict: accepted, duplicate, not-addressed, late, unknown-rfq.
pub static RESPONSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_aggregator_responses_total",
        "Answers read by the aggregator, by verdict.",
        &["verdict"],
    )
});

/// RFQs closed, by reason.
pub static CLOSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_aggregator_closed_total",
        "RFQs closed by the aggregator, by reason (all-answered, deadline).",
        &["reason"],
    )
});

/// RFQs opened.
pub static OPENED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_aggregator_opened_total",
        "RFQs opened by the aggregator, by source (record, recovered).",
        &["source"],
    )
});

/// RFQs open in this process.
pub static OPEN: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "rfq_aggregator_open_rfqs",
        "RFQs currently open in this aggregator process.",
    )
});
