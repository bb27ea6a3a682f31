//! The read API: where a customer app polls an RFQ and reads its result.
//!
//! - `GET /rfqs/{id}`: `200` with `status: running`, `responses-received`,
//!   `eta` and the answers so far while the RFQ is open; `303 See Other` to
//!   the result once closed.
//! - `GET /rfqs/{id}/result`: `200` with the quotes, declines and the
//!   providers that never answered, once closed; `409 Conflict` (a problem
//!   document carrying `eta`) while still running.
//! - `GET /rfqs/{id}/events`: Server-Sent Events, an event per answer as
//!   the aggregator keeps it, then `closed` ([`live`]).
//! - Unknown or malformed id: `404`.
//! - `GET /`: the customer page ([`page`]), which asks for quotes and
//!   follows them live.
//! - `GET /providers/{id}/scorecard`, `GET /providers`: providers'
//!   scorecards over a time window ([`scorecards`]).
//! - `GET /rfqs/{id}/timeline`: the RFQ's story replayed from the log and
//!   checked against the store, told by `rfq-explain`.
//!
//! Who reads what: a customer its own RFQs, a partner the RFQs addressed
//! to its providers (narrowed: [`access`]) and their scorecards, an
//! operator everything.
//!
//! Its part of the OpenAPI document is [`openapi::part`].
//!
//! It reads the store, and the events topic for the change notices that
//! wake live streams ([`live::follow`], a
//! [`Follower`](rfq_core::kafka::Follower)). A role: the shapes it shows
//! (and the producer's `202` shows) are `rfq-representation`'s, the
//! timeline `rfq-explain`'s; it depends on no other role.

mod access;
pub mod live;
pub mod openapi;
pub mod page;
mod routes;
pub mod scorecards;
#[cfg(test)]
mod tests;

pub use routes::{ApiSettings, router, served};
