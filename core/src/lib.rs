//! Shared foundation of the RFQ scatter-gather pipeline.
//!
//! Every component (producer, adapters, aggregator, read API) speaks in the
//! same domain types, reads the same Kafka settings and reports errors to HTTP
//! clients the same way. Those pieces live here so that each role crate stays
//! a thin layer of behaviour on top of them:
//!
//! - [`domain`]: parse-don't-validate types (`Region`, `CorrelationId`,
//!   `Price`, ...) constructed once at the edge of the system;
//! - [`kafka`]: client settings with librdkafka pass-through options, topic
//!   creation, at-least-once offset tracking and the dead-letter topic;
//! - [`http`]: serving a router until shutdown, absolute links;
//! - [`problem`]: RFC 9457 `application/problem+json` responses;
//! - [`metrics`]: the Prometheus registry and its `/metrics` endpoint;
//! - [`settings`]: settings declared once and layered (defaults < file <
//!   environment < flags), and the ones every role must agree on;
//! - [`shutdown`]: the token every long-running task is handed;
//! - [`sse`]: Server-Sent Events read as a client reads them.

pub mod auth;
pub mod domain;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod settings;
pub mod shutdown;
pub mod sse;

pub use domain::*;
