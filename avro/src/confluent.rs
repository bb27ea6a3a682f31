//! Confluent's wire format: a magic byte 0, the writer schema's id in the
//! registry (4 bytes, big-endian), then the Avro body. What partners'
//! standard serializers write and read, against any Confluent-compatible
//! registry (`rfq up` serves one).
//!
//! Subjects: each topic's partner-facing type by the TopicNameStrategy
//! (`rfq.quotes-value` is `QuoteResponse`, `rfq.requests-value`
//! `RfqRequest`, `rfq.providers-value` `ProviderHeartbeat`), as partners'
//! serializers name them. The other types we write to a topic (the RFQ's
//! copy and the deadline markers on the quotes topic) are registered by the
//! TopicRecordNameStrategy (`rfq.quotes-rfq.v1.RfqRequest`), so the topic's
//! own subject keeps one evolving type under its compatibility level.
//! A partner's door topics are named likewise (`rfq.door.NAME.rfqs-value`
//! is `PartnerRfq`, written by the door).
//! Readers go by the id in each record, whatever subject it came from.
//!
//! Reading resolves the writer's schema to ours (schema resolution): a
//! partner on an older or newer compatible schema is understood. A union
//! value is read as the writer's branch (the one of ours with its full
//! name) or the record is refused, never read as another branch.
//!
//! Every component registers the schemas the pipeline writes when it starts
//! (and `rfq migrate` does, for a deployment), giving each subject that has
//! no compatibility level of its own [`COMPATIBILITY`]: a schema the
//! registry refuses stops the component with the registry's reason, rather
//! than its first record.

mod client;

pub use client::COMPATIBILITY;

use crate::{Codec, CodecError, Record, RecordType, Schemas, datum};
use client::Admin;
use rfq_core::{kafka::TopicSettings, pipeline::SchemaRegistrySettings};
use schema_registry_converter::{
    async_impl::{
        avro::AvroDecoder,
        schema_registry::{SrSettings, post_schema},
    },
    error::SRCError,
    schema_registry_common::{SchemaType, SuppliedSchema},
};
use std::collections::HashMap;
use tokio::sync::Mutex;

/// The magic byte of Confluent's framing.
const MAGIC: u8 = 0;
/// Magic byte and schema id.
const HEADER_LEN: usize = 5;

/// The Confluent-framed codec.
pub struct ConfluentCodec {
    /// How to reach the registry.
    registry: SrSettings,
    /// The calls `schema_registry_converter` does not make.
    admin: Admin,
    /// The (topic, type) pairs the pipeline writes.
    written: Vec<(String, RecordType)>,
    /// Writer schemas by id, looked up once each.
    decoder: AvroDecoder,
    /// The id each (topic, type) is written with, registered on first use.
    ids: Mutex<HashMap<(String, RecordType), u32>>,
    /// Each topic's partner-facing type (its `<topic>-value` subject).
    primary: HashMap<String, RecordType>,
}

impl ConfluentCodec {
    /// A codec against the registry `settings` describe, for the
    /// pipeline's `topics`. Fails on settings that cannot work (a TLS file
    /// that cannot be read); the registry is not called yet.
    pub fn new(
        settings: &SchemaRegistrySettings,
        topics: &TopicSettings,
    ) -> Result<ConfluentCodec, CodecError> {
        let (registry, admin) = client::clients(settings)?;
        let written = vec![
            (topics.requests_topic.clone(), RecordType::RfqRequest),
            (topics.quotes_topic.clone(), RecordType::RfqRequest),
            (topics.quotes_topic.clone(), RecordType::QuoteResponse),
            (topics.quotes_topic.clone(), RecordType::DeadlineTick),
            (
                topics.providers_topic.clone(),
                RecordType::ProviderHeartbeat,
            ),
        ];
        let primary = [
            (&topics.requests_topic, RecordType::RfqRequest),
            (&topics.quotes_topic, RecordType::QuoteResponse),
            (&topics.providers_topic, RecordType::ProviderHeartbeat),
        ]
        .into_iter()
        .map(|(topic, record_type)| (topic.clone(), record_type))
        .collect();
        Ok(ConfluentCodec {
            decoder: AvroDecoder::new(registry.clone()),
            registry,
            admin,
            written,
            ids: Mutex::default(),
            primary,
        })
    }

    /// Registers every schema the pipeline writes under its subject, and
    /// sets each subject's compatibility level to `level` if given (what
    /// `rfq migrate` does), else gives [`COMPATIBILITY`] to the subjects
    /// without a level of their own (what a component does at start).
    /// Idempotent. A registry that cannot be reached is
    /// [`CodecError::Registry`]; one that refuses (an incompatible schema,
    /// bad credentials) is [`CodecError::Refused`] with its reason.
    pub async fn register_pipeline(
        &self,
        level: Option<&str>,
    ) -> Result<Vec<Registration>, CodecError> {
        let mut registrations = Vec::with_capacity(self.written.len());
        for (topic, record_type) in &self.written {
            let subject = self.subject(topic, *record_type);
            // An explicit level first, so that it decides the registration
            // (`--schema-compatibility NONE` lets a breaking change through).
            if let Some(level) = level {
                self.admin.set_subject_level(&subject, level).await?;
            }
            let id = self.id(topic, *record_type).await?;
            let own = match level {
                Some(_) => None,
                None => self.admin.subject_level(&subject).await?,
            };
            let compatibility = match (own, level) {
                (Some(own), _) => own,
                (None, Some(level)) => level.to_owned(),
                (None, None) => {
                    self.admin
                        .set_subject_level(&subject, COMPATIBILITY)
                        .await?;
                    COMPATIBILITY.to_owned()
                }
            };
            registrations.push(Registration {
                subject,
                record_type: *record_type,
                id,
                compatibility,
            });
        }
        Ok(registrations)
    }

    /// The subject `record_type` is registered under for `topic`.
    pub fn subject(&self, topic: &str, record_type: RecordType) -> String {
        let primary = self
            .primary
            .get(topic)
            .copied()
            .or_else(|| door_type(topic));
        match primary {
            Some(primary) if primary == record_type => format!("{topic}-value"),
            _ => format!("{topic}-{}", record_type.full_name()),
        }
    }

    /// The id `record_type` is written with on `topic`, registering our
    /// schema under its subject the first time (the registry answers with
    /// the existing id if it has it).
    pub async fn id(&self, topic: &str, record_type: RecordType) -> Result<u32, CodecError> {
        let key = (topic.to_owned(), record_type);
        let mut ids = self.ids.lock().await;
        if let Some(id) = ids.get(&key) {
            return Ok(*id);
        }
        let supplied = SuppliedSchema::new(
            Some(record_type.full_name().to_owned()),
            SchemaType::Avro,
            record_type.schema_text().to_owned(),
        );
        let subject = self.subject(topic, record_type);
        let registered = post_schema(&self.registry, subject.clone(), supplied)
            .await
            .map_err(|error| {
                let what = format!(
                    "registering {} under {subject}: {error}",
                    record_type.full_name()
                );
                // No answer, a 5xx, 408 or 429: waited out. Any other
                // refusal (409 incompatible, 401 credentials, 422) stops
                // the component with the registry's reason.
                if error.retriable || matches!(http_status(&error), Some(408 | 429 | 500..)) {
                    CodecError::Registry(what)
                } else {
                    CodecError::Refused(what)
                }
            })?;
        ids.insert(key, registered.id);
        Ok(registered.id)
    }
}

/// The partner-facing type of a door's topic (`rfq.door.NAME.rfqs-value`
/// is `PartnerRfq`, `…answers-value` `QuoteResponse`, `…heartbeats-value`
/// `ProviderHeartbeat`), as the partner's serializers name the subjects.
fn door_type(topic: &str) -> Option<RecordType> {
    let door = rfq_core::Door::of_name(topic)?;
    [
        (door.rfqs_topic(), RecordType::PartnerRfq),
        (door.answers_topic(), RecordType::QuoteResponse),
        (door.heartbeats_topic(), RecordType::ProviderHeartbeat),
    ]
    .into_iter()
    .find_map(|(name, record_type)| (name == topic).then_some(record_type))
}

/// The HTTP status of a registry call that got an answer.
fn http_status(error: &SRCError) -> Option<u16> {
    let after = error.error.split("failed with status ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

/// What a failed lookup of the writer schema `id` means for the record.
/// The registry not answering, or answering 401, 403, 408, 429, a 5xx, or
/// a 404 that is not its "no such schema" (40403: a wrong URL, a proxy) is
/// not the record's fault: waited out, never dead-lettered. The registry
/// saying it has no such schema, or a schema we cannot read with (not
/// Avro, not parseable), is the record's: it is dead-lettered with the
/// reason, and the partition goes on.
fn decode_error(id: u32, error: &SRCError) -> CodecError {
    let cause = error.cause.as_deref().unwrap_or(&error.error);
    let wait = error.retriable
        || match http_status(error) {
            Some(404) => !cause.contains("40403"),
            Some(status) => matches!(status, 401 | 403 | 408 | 429 | 500..),
            None => false,
        };
    if wait {
        CodecError::Registry(format!("looking up schema id {id}: {error}"))
    } else if http_status(error) == Some(404) {
        CodecError::UnknownSchema(format!("schema id {id} is not in the registry: {cause}"))
    } else {
        CodecError::UnknownSchema(format!("schema id {id} cannot be read: {error}"))
    }
}

/// One schema the pipeline writes, as the registry has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The subject it is registered under.
    pub subject: String,
    /// Our record type.
    pub record_type: RecordType,
    /// Its id in the registry.
    pub id: u32,
    /// The subject's compatibility level.
    pub compatibility: String,
}

#[async_trait::async_trait]
impl Codec for ConfluentCodec {
    async fn encode(&self, topic: &str, record: &Record) -> Result<Vec<u8>, CodecError> {
        let id = self.id(topic, record.record_type()).await?;
        let body = datum::write(record)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        bytes.push(MAGIC);
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    async fn decode(&self, _topic: &str, bytes: &[u8]) -> Result<Record, CodecError> {
        let header: [u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|header| header.try_into().ok())
            .ok_or_else(|| {
                CodecError::Framing(format!(
                    "{} bytes is shorter than Confluent's 5-byte header (magic byte 0, schema id)",
                    bytes.len()
                ))
            })?;
        if header[0] != MAGIC {
            return Err(CodecError::Framing(format!(
                "magic byte {:#04x}, not 0 (Confluent's wire format)",
                header[0]
            )));
        }
        let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let writer = self.decoder.get_schema(id).await.map_err(|error| {
            if !error.retriable {
                // The decoder caches refusals; an id unknown now may be
                // registered later, so the next record asks again.
                self.decoder.remove_errors_from_cache();
            }
            decode_error(id, &error)
        })?;
        let name = match &writer.parsed {
            apache_avro::Schema::Record(record) => record.name.fullname(None),
            other => format!("{other:?}"),
        };
        let record_type = RecordType::ALL
            .into_iter()
            .find(|t| t.full_name() == name)
            .ok_or_else(|| {
                CodecError::UnknownSchema(format!(
                    "schema id {id} is {name}, not one of our record types"
                ))
            })?;
        let reader = Schemas::get().schema(record_type);
        datum::read(record_type, &writer.parsed, reader, &bytes[HEADER_LEN..])
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
