//! The `rfq` command: every component of the pipeline as a subcommand, and
//! `rfq up`, which runs them all in one process around an embedded broker.
//!
//! [`Pipeline`] is what `rfq up` runs; the integration tests start the same
//! thing on free ports, so what they check is what a user runs. Besides the
//! roles: `rfq migrate` (topics and the store's schema), `rfq explain` (an
//! RFQ's story from the log, through `rfq_explain`), `rfq keys` (API keys)
//! and `rfq bench` (through `rfq_bench`).

pub mod bench;
pub mod cli;
pub mod demo_key;
pub mod explain;
mod keys;
mod partners;
mod pipeline;
mod telemetry;

pub use pipeline::{
    EmbeddedBrokerSettings, IntakeSettings, OPERATOR_PROPERTIES, OPERATOR_USER, Pipeline,
    UpSettings,
};
pub use telemetry::init_tracing;
