//! Avro on the wire: the schemas of every record on the RFQ topics and the
//! codec that turns records into bytes and back.
//!
//! The schemas are the `.avsc` files in `avro/schemas/`, compiled into the
//! binary and registered in the schema registry. A [`Codec`] frames Avro
//! binary data; the pipeline's is [`ConfluentCodec`] (Confluent's wire
//! format: magic byte 0 and the writer schema's registry id before the
//! body, what partners' standard serializers write), which lets one topic
//! carry several record types and lets a reader pick the writer schema per
//! record. [`SingleObjectCodec`] (the Avro single-object encoding, by
//! schema fingerprint, no registry) implements the same trait.
//!
//! Decoding is the edge of the system: a record that decodes is a checked
//! domain value ([`rfq_core::Rfq`], ...), and a record that does not gets a
//! [`CodecError`] whose text is the dead-letter reason.

mod confluent;
mod datum;
mod schemas;
mod single_object;
mod values;

pub use confluent::{COMPATIBILITY, ConfluentCodec, Registration};
pub use schemas::{MAX_DECODE_ALLOCATION, RecordType, Schemas};
pub use single_object::SingleObjectCodec;

use rfq_core::{Answer, DeadlineTick, DomainError, PartnerRfq, ProviderHeartbeat, Rfq};
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
    /// `rfq.v1.PartnerRfq`: an RFQ as one partner sees it, on its door.
    PartnerRfq(PartnerRfq),
}

impl Record {
    /// The Avro type of this record.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::Rfq(_) => RecordType::RfqRequest,
            Record::Answer(_) => RecordType::QuoteResponse,
            Record::Heartbeat(_) => RecordType::ProviderHeartbeat,
            Record::Tick(_) => RecordType::DeadlineTick,
            Record::PartnerRfq(_) => RecordType::PartnerRfq,
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
    /// The schema registry refused a call (an incompatible schema, bad
    /// credentials): retrying will not help.
    #[error("schema registry refused: {0}")]
    Refused(String),
    /// The registry settings cannot work (a TLS file that cannot be read).
    #[error("schema registry settings: {0}")]
    Settings(String),
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
        /// The record's `provider` field, when it has one that could be
        /// read (at most [`MAX_PROVIDER_SHOWN`] characters): the dead
        /// letter names the partner.
        provider: Option<String>,
    },
}

/// How much of an unreadable record's provider a dead letter repeats.
pub const MAX_PROVIDER_SHOWN: usize = 100;

impl CodecError {
    /// The provider of the record refused, when it could be read.
    pub fn provider(&self) -> Option<&str> {
        match self {
            CodecError::Invalid { provider, .. } => provider.as_deref(),
            _ => None,
        }
    }
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

/// The Avro single-object codec (fingerprints, no registry).
pub fn single_object_codec() -> SharedCodec {
    Arc::new(SingleObjectCodec::new())
}

/// The pipeline's codec: Confluent's wire format against the configured
/// schema registry. The registry is not called yet: see [`open_codec`].
pub fn codec(pipeline: &rfq_core::pipeline::PipelineSettings) -> Result<SharedCodec, CodecError> {
    Ok(Arc::new(ConfluentCodec::new(
        &pipeline.registry,
        &pipeline.topics,
    )?))
}

/// The pipeline's codec, with every schema the pipeline writes registered
/// (see [`ConfluentCodec::register_pipeline`]): what a component opens at
/// start. Waits out a registry that cannot be reached (logged); fails when
/// the registry refuses, with its reason.
pub async fn open_codec(
    pipeline: &rfq_core::pipeline::PipelineSettings,
) -> Result<(SharedCodec, Vec<Registration>), CodecError> {
    register(pipeline, None).await
}

/// Registers the pipeline's schemas as [`open_codec`] does, but sets every
/// subject's compatibility to `level` if given (what `rfq migrate` does).
pub async fn register(
    pipeline: &rfq_core::pipeline::PipelineSettings,
    level: Option<&str>,
) -> Result<(SharedCodec, Vec<Registration>), CodecError> {
    let codec = ConfluentCodec::new(&pipeline.registry, &pipeline.topics)?;
    let registrations = patiently(|| codec.register_pipeline(level)).await?;
    for registration in &registrations {
        tracing::info!(
            subject = %registration.subject,
            id = registration.id,
            compatibility = %registration.compatibility,
            "pipeline schema ready"
        );
    }
    Ok((Arc::new(codec), registrations))
}

/// The registry client's HTTP client is built with rustls and two crypto
/// providers compiled in (ring, and aws-lc-rs from another dependency), so
/// none is the default and building a client without one chosen panics:
/// ring, as everywhere else in the process. Idempotent.
pub fn choose_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long to wait before asking an unavailable registry again, at most.
const MAX_REGISTRY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

/// Decodes, waiting out a registry outage (retried with backoff, logged):
/// a record is never dead-lettered because the registry could not be asked.
pub async fn decode_patiently(
    codec: &dyn Codec,
    topic: &str,
    bytes: &[u8],
) -> Result<Record, CodecError> {
    patiently(|| codec.decode(topic, bytes)).await
}

/// Encodes, waiting out a registry outage (see [`decode_patiently`]).
pub async fn encode_patiently(
    codec: &dyn Codec,
    topic: &str,
    record: &Record,
) -> Result<Vec<u8>, CodecError> {
    patiently(|| codec.encode(topic, record)).await
}

async fn patiently<T, F: std::future::Future<Output = Result<T, CodecError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, CodecError> {
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(CodecError::Registry(error)) => {
                tracing::warn!(%error, retry_in = ?backoff, "schema registry unavailable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_REGISTRY_BACKOFF);
            }
            other => return other,
        }
    }
}
