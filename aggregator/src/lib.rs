//! The windowed aggregator: gathers the answers to each RFQ and closes it
//! when every addressed provider answered or its deadline passed, whichever
//! comes first, then persists the result.
//!
//! It consumes only the return-address topic (`rfq.quotes`). The producer
//! copies each RFQ into the partition named by its return address before
//! publishing it, so within that partition the RFQ always precedes its
//! answers, and the aggregator that owns the partition owns the RFQ: no
//! cross-instance coordination, no dependence on the providers' partitioner.
//!
//! Deadlines fire from a timer, not from traffic. Offsets are stored only
//! after the effects of their records are durable in the store, and every
//! store write is idempotent, so a crash or rebalance replays records
//! harmlessly; open RFQs of a newly assigned partition are recovered from
//! the store. The closing rules themselves are in [`window`], free of I/O.

mod config;
mod metrics;
mod service;
pub mod window;

pub use config::AggregatorSettings;
pub use service::run;
