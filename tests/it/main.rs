//! Integration tests: the real pipeline (embedded tansu broker, rdkafka
//! clients, libsql store, axum server) driven over real HTTP. One test
//! binary, so the broker is linked once.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod helpers;

mod accounting;
mod admission;
mod broker_ends;
mod chaos;
mod cli;
mod completion;
mod compose;
mod customers;
mod dead_letter;
mod docs;
mod doors;
mod end_to_end;
mod events;
mod explain;
mod idempotency;
mod invalid_input;
mod layering;
mod odd_batches;
mod openapi;
mod outside_client;
mod page;
mod partners;
mod registry_tenancy;
mod restart;
mod roles;
mod schema_evolution;
mod scorecards;
mod store;
mod tenancy;
mod vicinity;
