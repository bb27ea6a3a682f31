//! Avro on the wire: the schemas of every record on the RFQ topics and the
//! codec that turns records into bytes and back.
//!
//! The schemas are the `.avsc` files in `avro/schemas/`, compiled into the
//! binary; partners read them from there (and, later, from the schema
//! registry). A [`Codec`] frames Avro binary data; the one used today is
//! [`SingleObjectCodec`] (the Avro single-object encoding: a two-byte marker
//! and the writer schema's fingerprint before the body), which lets one
//! topic carry several record types and lets a reader pick the writer schema
//! per record. The Confluent schema-registry framing (magic byte and schema
//! id) is another implementation of the same trait.
//!
//! Decoding is the edge of the system: a record that decodes is a checked
//! domain value ([`rfq_core::Rfq`], ...), and a record that does not gets a
//! [`CodecError`] whose text is the dead-letter reason.

mod confluent;
mod datum;
mod schemas;
mod single_object;
mod values;

pub use confluent::ConfluentCodec;
pub use schema_registry_converter::async_impl::schema_registry::SrSettings;
pub use schemas::{MAX_DECODE_ALLOCATION, RecordType, Schemas};
pub use single_object::SingleObjectCodec;

use rfq_core::{Answer, DeadlineTick, DomainError, ProviderHeartbeat, Rfq};
use std::sync::Arc;

/// A record of one of the pipeline's Avro types.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// `rfq.v1.RfqRequest`: on the requests topic and at the return address.
    Rfq(Rfq),
    /// `rfq.v1.QuoteResponse`: a quote or decline at the return address.
    Answer(Answer),
    /// `rfq.v1.ProviderHeartbeat`: on the providers topic.
    Heartbeat(ProviderHeartbeat),
    /// `rfq.v1.DeadlineTick`: the aggregator's deadline marker on the quotes topic.
    Tick(DeadlineTick),
}

impl Record {
    /// The Avro type of this record.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::Rfq(_) => RecordType::RfqRequest,
            Record::Answer(_) => RecordType::QuoteResponse,
            Record::Heartbeat(_) => RecordType::ProviderHeartbeat,
            Record::Tick(_) => RecordType::DeadlineTick,
        }
    }
}

/// Why bytes could not be turned into a record (or a record into bytes).
/// The text is written into the dead-letter record's reason header.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not framed as this codec expects.
    #[error("not framed as expected: {0}")]
    Framing(String),
    /// Written with a schema we do not know.
    #[error("unknown writer schema ({0})")]
    UnknownSchema(String),
    /// The schema registry could not be asked (unreachable, failing): not
    /// the record's fault; the caller retries rather than dead-letters.
    #[error("schema registry unavailable: {0}")]
    Registry(String),
    /// The Avro body does not match the writer schema.
    #[error("invalid Avro data: {0}")]
    Avro(String),
    /// Valid Avro, invalid content (e.g. a latitude of 200).
    #[error("invalid {record}: {error}")]
    Invalid {
        /// The record type.
        record: &'static str,
        /// What was wrong.
        error: DomainError,
    },
}

/// Turns records into bytes and back. Async so that a registry-backed
/// implementation can look schemas up.
#[async_trait::async_trait]
pub trait Codec: Send + Sync {
    /// Encodes a record (for the topic `topic`, which registry codecs use to
    /// choose the subject).
    async fn encode(&self, topic: &str, record: &Record) -> Result<Vec<u8>, CodecError>;
    /// Decodes bytes read from `topic`.
    async fn decode(&self, topic: &str, bytes: &[u8]) -> Result<Record, CodecError>;
}

/// The codec shared by a component's tasks.
pub type SharedCodec = Arc<dyn Codec>;

/// The default codec.
pub fn default_codec() -> SharedCodec {
    Arc::new(SingleObjectCodec::new())
}
