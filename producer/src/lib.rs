//! The producer: the customer-facing intake of RFQs.
//!
//! `POST /rfqs` parses the body into domain types, derives the region from
//! the pickup point, snapshots the live providers registered within the
//! vicinity radius of it, whatever their region (the RFQ's addressed set),
//! and then, in this order:
//!
//! 1. copies the RFQ to its return address (the quotes-topic partition its
//!    aggregator owns), so the aggregator knows it before any answer;
//! 2. records it in the store, so `GET /rfqs/{id}` finds it at once;
//! 3. publishes it to the requests topic keyed by region, for the adapters;
//!
//! and only then answers `202 Accepted`. Before any of it, the request's
//! API key names the customer (`401` without one, see `rfq_core::auth`),
//! the customer's own limits are checked (`429`, see `customers.rs`), and
//! the admission
//! bound refuses the RFQ with `503` and `Retry-After` if the configured
//! number of RFQs is already open or the aggregator of its partition is
//! too far behind (its progress reports, `lag.rs`); the ETA of the `202`
//! is the deadline plus that lag. Each step waits for the broker's or
//! the store's acknowledgement; a failure answers `503` and the client may
//! retry (an RFQ whose step 3 failed closes at its deadline, unseen). With
//! an `Idempotency-Key` the retry gets the first RFQ instead of a second
//! one (see `idempotency.rs`). Its part of the OpenAPI document:
//! [`openapi::part`].
//!
//! A role: it depends on the shared crates (`rfq-core`, `rfq-avro`,
//! `rfq-store`, and `rfq-representation` for the `202`'s body, the running
//! RFQ the read API shows too) and on no other role; it meets them on
//! Kafka and in the store. Its followers (the provider registry, the
//! aggregators' progress) are [`rfq_core::kafka::Follower`]s.

mod admission;
mod body;
mod config;
mod customers;
mod error;
mod idempotency;
mod lag;
mod metrics;
pub mod openapi;
mod registry;
mod routes;
mod worker;

pub use body::{CompletionRequest, Limits, NewRfq, parse};
pub use config::ProducerSettings;
pub use customers::{CustomerLimitSettings, CustomerLimits, Limited};
pub use error::IntakeError;
pub use idempotency::{IDEMPOTENCY_KEY, KEYED_INTAKE_LIMIT, TAKEOVER_AFTER, fingerprint};
pub use lag::Lags;
pub use registry::Registry;
pub use routes::served;
pub use worker::Intake;
