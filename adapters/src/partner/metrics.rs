//! Per-partner metrics. Labelled by partner (configured, so bounded), never
//! by provider: the per-provider view is the API's scorecards.

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use rfq_core::metrics::{counter_vec, gauge_vec, histogram_vec};
use std::sync::LazyLock;

/// Calls made, by how they ended: `answered` (200), `accepted` (202),
/// `timeout`, `unavailable` (429, 5xx), `rejected` (another status),
/// `transport` (refused, reset, broken body), `invalid` (a body that is
/// not an answers document, or too large), `due` (cut short by the RFQ's
/// deadline before the partner's timeout: not counted against it).
pub static CALLS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_calls_total",
        "Calls (attempts) to HTTP partners, by outcome.",
        &["partner", "outcome"],
    )
});

/// Calls not made, by why: `breaker-open`, `queue-full` (its bulkhead and
/// queue were full), `no-time` (the answers were due before a place came
/// free, or before the call could start).
pub static SHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_shed_total",
        "Calls to HTTP partners not made, by reason.",
        &["partner", "reason"],
    )
});

/// Retries: `made`, or `denied` by the retry budget.
pub static RETRIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_retries_total",
        "Retries of calls to HTTP partners, made or denied by the budget.",
        &["partner", "result"],
    )
});

/// How long a call took, until its body was read (or it failed).
pub static LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "rfq_partner_call_seconds",
        "Latency of calls to HTTP partners.",
        &["partner"],
        vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    )
});

/// The breaker's state: 0 closed, 1 half-open, 2 open.
pub static BREAKER: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_partner_breaker_state",
        "Circuit breaker of each HTTP partner: 0 closed, 1 half-open, 2 open.",
        &["partner"],
    )
});

/// The breaker's transitions, by the state entered.
pub static TRANSITIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_breaker_transitions_total",
        "Circuit breaker transitions of HTTP partners, by the state entered.",
        &["partner", "to"],
    )
});

/// Calls waiting for a place in the bulkhead.
pub static QUEUED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_partner_queue_depth",
        "Calls waiting for a place in an HTTP partner's bulkhead.",
        &["partner"],
    )
});

/// Calls in flight.
pub static IN_FLIGHT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_partner_in_flight",
        "Calls in flight to an HTTP partner.",
        &["partner"],
    )
});

/// Answers received, by kind: `quoted`, `declined`, `refused` (unusable:
/// dead-lettered as `partner-answer`).
pub static ANSWERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_answers_total",
        "Answers received from HTTP partners, by kind.",
        &["partner", "kind"],
    )
});

/// Calls whose callback URL is open: in flight, or answered `202` and
/// awaiting their answers (registered before the call, so that a callback
/// cannot outrun its `202`).
pub static CALLBACKS_PENDING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_partner_callbacks_pending",
        "Calls to HTTP partners whose callback is open: in flight, or answered 202 and awaited.",
        &["partner"],
    )
});

/// Callback requests, by outcome: `delivered` (queued for its call),
/// `unknown` (no call awaits it: expired or never made), `busy` (its call
/// has 16 documents queued already: `429`).
pub static CALLBACKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_partner_callbacks_total",
        "Callbacks from HTTP partners, by outcome.",
        &["partner", "outcome"],
    )
});

/// Providers on each partner's list.
pub static PROVIDERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "rfq_partner_providers",
        "Providers on each HTTP partner's list, as last fetched.",
        &["partner"],
    )
});
