//! The partner kit: runnable examples of a provider that quotes over Kafka
//! with its platform's standard tooling, written against the contract in
//! `docs/partners.md` and nothing of ours.
//!
//! - `partner.rs`: Rust, rdkafka + schema_registry_converter
//!   (`cargo run -p rfq-partner-examples --example partner -- --help`);
//! - `partner.py`: Python, confluent-kafka's `AvroSerializer`.
//!
//! `tests/smoke/partner_examples.py` runs both against `rfq up`.
