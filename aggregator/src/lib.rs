//! The windowed aggregator: gathers the answers to each RFQ and closes it
//! when its completion rule is met (all answered, first N quotes, quorum,
//! a quote at or below a price) or its deadline passed, whichever comes
//! first, then persists the result. Late answers are kept and shown as late.
//!
//! It consumes only the return-address topic (`rfq.quotes`). The producer
//! copies each RFQ into the partition named by its return address before
//! publishing it, so within that partition the RFQ always precedes its
//! answers, and the aggregator that owns the partition owns the RFQ: no
//! cross-instance coordination, no dependence on the providers' partitioner.
//!
//! Deadlines fire from a timer, not from traffic: when one passes, the
//! owner appends a deadline marker to the partition and closes the RFQs when
//! it reads the marker back, so every decision is a function of the log and
//! a replay after a crash reaches the same result. Offsets are stored only
//! after the effects of their records are durable in the store, and every
//! store write is idempotent (first wins); open RFQs of a newly assigned
//! partition are recovered from the store.
//!
//! A role, and the Kafka-facing side of the rules only: the closing rules
//! themselves (the window, completion, the after-close rule, scoring) are
//! the pure crate `rfq-rules`, which `rfq-explain` replays through too, so
//! an explanation cannot disagree with the judge. Here are the loop and
//! its assignments (`worker.rs`, `rebalance.rs`), judging a batch by the
//! window (`judge.rs`, with the store's lookups `lookup.rs`), writing the
//! effects until durable (`writer.rs`), the deadline markers (`ticker.rs`),
//! the lag and the partner map ([`partners`], a
//! [`Follower`](rfq_core::kafka::Follower) of the providers topic). It
//! depends on the shared crates and on no other role.

mod config;
mod judge;
mod lag;
mod lookup;
mod metrics;
pub mod partners;
mod rebalance;
mod ticker;
mod worker;
mod writer;

pub use config::AggregatorSettings;
pub use worker::run;
