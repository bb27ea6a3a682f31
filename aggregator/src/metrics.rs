//! The aggregator's metrics.
//!
//! The `rfq_provider_*` ones are per partner (the adapter hosting a
//! provider, [`crate::partners`]), never per provider: their label sets
//! stay bounded as the fleet grows; the per-provider view is the API's
//! scorecards. They are counted where the aggregator decides (lines at a
//! close, answers as it refuses them), so an aggregator that replays its
//! partition after a crash counts those records again: they are rates for
//! a dashboard, not a record (the store's lines are).

use prometheus::{
    GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};
use rfq_core::metrics::{
    counter, counter_vec, float_gauge_vec, gauge, gauge_vec, histogram, histogram_vec,
};
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

/// Scorecard lines decided at a close, by partner and outcome.
pub static PROVIDER_LINES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_provider_lines_total",
        "Addressed providers' parts in closed RFQs (one line per provider addressed), by partner (the adapter hosting the provider; `other` past 64 partners, `unknown` if its heartbeat was not read) and outcome as decided at the close (quoted, declined, late, silent: a silent line later marked late by an answer after the close stays silent here). A close replayed after a crash is counted again.",
        &["partner", "outcome"],
    )
});

/// Wins (the cheapest quote in time of an RFQ), by partner.
pub static PROVIDER_WINS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_provider_wins_total",
        "Closed RFQs a partner's provider won (its quote in time ranked first), by partner.",
        &["partner"],
    )
});

/// Answers refused as duplicates, by partner.
pub static PROVIDER_DUPLICATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_provider_duplicates_total",
        "Answers refused as duplicates (the provider had answered the RFQ already), by partner.",
        &["partner"],
    )
});

/// Answers refused for another reason, by partner and outcome.
pub static PROVIDER_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_provider_refused_total",
        "Answers refused and dead-lettered, by partner and outcome (not-addressed, unknown-rfq, wrong-partition).",
        &["partner", "outcome"],
    )
});

/// Answer latency of the lines decided at a close, by partner.
pub static PROVIDER_ANSWER_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "rfq_provider_answer_seconds",
        "Time from an RFQ's creation to a provider's answer reaching the quotes topic, for the lines decided at a close that have an answer (quoted, declined, late), by partner.",
        &["partner"],
        vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
        ],
    )
});

/// Effects per store write (a round: the judged batches waiting for the
/// writer, written together).
pub static WRITE_ROUND_EFFECTS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "rfq_aggregator_write_round_effects",
        "Effects written to the store in one round (the judged batches waiting for the writer, written as one store write).",
        vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0],
    )
});

/// Records of the quotes topic past the last whose effects are durable,
/// per partition owned.
pub static LAG_RECORDS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_aggregator_lag_records",
        "Records of the quotes topic past the last one whose effects are durable (the broker's high watermark minus the offset stored), per partition this aggregator owns; updated every second.",
        &["partition"],
    )
});

/// How long the oldest waiting record has waited, per partition owned.
pub static LAG_SECONDS: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec(
        "rfq_aggregator_lag_seconds",
        "How far behind this aggregator is, per partition it owns: when records wait, now minus the broker timestamp of the last record whose effects are durable; 0 when none waits. Deadlines close this late at least. Updated every second.",
        &["partition"],
    )
});

/// Open RFQs past their deadline by more than a second, per partition owned.
pub static OPEN_PAST_DEADLINE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_aggregator_open_past_deadline",
        "RFQs this aggregator holds open more than a second past their deadline (their marker has not been read back yet), per partition it owns; RFQs not read yet (a backlog) are in rfq_aggregator_lag_records instead. Updated every second.",
        &["partition"],
    )
});
