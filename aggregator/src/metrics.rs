//! The aggregator's metrics.

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use rfq_core::metrics::{counter, counter_vec, gauge};
use std::sync::LazyLock;

/// Answers by verdict: accepted, late, duplicate, not-addressed, unknown-rfq, wrong-partition.
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
        "RFQs closed by the aggregator, by reason (all-answered, first-n, quorum, quality, deadline). Counts close decisions written; a decision replayed after a crash is counted again but stored once.",
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

/// Deadline markers written.
pub static TICKS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "rfq_aggregator_deadline_ticks_total",
        "Deadline markers written to the quotes topic by this process.",
    )
});

/// Change notices written, by result (sent, failed).
pub static NOTICES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_aggregator_notices_total",
        "Change notices (an answer kept, an RFQ closed) written to the events topic for live readers, by result (sent, failed). A failed one delays a live event by at most the API's re-read interval.",
        &["result"],
    )
});
