//! The decision rules of the pipeline, free of I/O: which answers count,
//! when an RFQ closes and why, what becomes of an answer after its RFQ
//! closed (the after-close rule), and the scorecard lines decided at each
//! close. The completion rules themselves are domain values
//! ([`Completion`](rfq_domain::Completion)); the [`window`] applies them
//! to the records of a return-address partition in log order.
//!
//! Two callers, one function: the aggregator's judge feeds the window the
//! records it reads and writes the effects it returns; `rfq-explain`
//! replays one RFQ's records through a fresh window to tell its story. So
//! an explanation cannot disagree with the judge by construction.
//!
//! This crate depends on the domain types alone (no Kafka, no store, no
//! async runtime); `tests/it/layering.rs` keeps it so.

pub mod window;

pub use window::{CLOSED_KEPT, Verdict, Window};
