//! The adapters' metrics.

use prometheus::{IntCounterVec, IntGaugeVec};
use rfq_core::metrics::counter_vec;
use std::sync::LazyLock;

/// RFQs read, by what the adapter did: answered, not-served (a region
/// none of its unicorns is in: skipped by design), expired, dead-lettered
/// (no key, not decodable, not an RFQ; also counted in
/// `rfq_dead_letters_total`).
pub static RFQS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_adapter_rfqs_total",
        "RFQs read by adapters, by disposition.",
        &["adapter", "disposition"],
    )
});

/// Answers sent, by kind (quoted, declined).
pub static ANSWERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_adapter_answers_total",
        "Answers sent by adapters' unicorns, by kind.",
        &["adapter", "kind"],
    )
});

/// Records a door forwarded for its partner, by kind (rfq: to the
/// partner; quote, decline, heartbeat: from it).
pub static DOOR_FORWARDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_door_forwarded_total",
        "Records forwarded through partners' doors, by partner and kind.",
        &["partner", "kind"],
    )
});

/// Records a door refused, by partner and dead-letter kind (also counted
/// in `rfq_dead_letters_total{component="door"}`).
pub static DOOR_DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "rfq_door_dead_letters_total",
        "Records dead-lettered at partners' doors, by partner and kind.",
        &["partner", "kind"],
    )
});

/// Whether a partner's door is open (1: its readers run) or not (0).
pub static DOOR_OPEN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    rfq_core::metrics::gauge_vec(
        "rfq_door_open",
        "Whether a partner's door is open (1) or closed (0).",
        &["partner"],
    )
});
