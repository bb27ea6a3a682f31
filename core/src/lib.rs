//! Shared foundation of the RFQ scatter-gather pipeline.
//!
//! Every component (producer, adapters, aggregator, read API) speaks in the
//! same domain types, reads the same Kafka settings and reports errors to HTTP
//! clients the same way. Those pieces live here so that each role crate stays
//! a thin layer of behaviour on top of them:
//!
//! - [`domain`]: parse-don't-validate types (`Region`, `CorrelationId`,
//!   `Price`, ...) constructed once at the edge of the system: the pure
//!   crate `rfq-domain`, re-exported here and at the root;
//! - [`kafka`]: client settings with librdkafka pass-through options, topic
//!   creation, at-least-once offset tracking, the dead-letter topic and the
//!   one follower of every partition of a topic
//!   ([`Follower`](kafka::Follower));
//! - [`http`]: serving a router until shutdown, absolute links;
//! - [`auth`]: customers and their API keys;
//! - [`openapi`]: the shared parts of the OpenAPI document;
//! - [`problem`]: RFC 9457 `application/problem+json` responses;
//! - [`metrics`]: the Prometheus registry and its `/metrics` endpoint;
//! - [`settings`]: settings declared once and layered (defaults < file <
//!   environment < flags), the machinery only;
//! - [`pipeline`]: the settings every role must agree on (Kafka, topics,
//!   region precision, vicinity radius, the schema registry);
//! - [`shutdown`]: the token every long-running task is handed;
//! - [`sse`]: Server-Sent Events read as a client reads them.

pub mod auth;
pub use rfq_domain as domain;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod problem;
pub mod settings;
pub mod shutdown;
pub mod sse;

pub use domain::*;
