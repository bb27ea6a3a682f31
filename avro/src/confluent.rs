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
//! Readers go by the id in each record, whatever subject it came from.
//!
//! Reading resolves the writer's schema to ours (schema resolution): a
//! partner on an older or newer compatible schema is understood.

use crate::{Codec, CodecError, Record, RecordType, Schemas, datum};
use rfq_core::kafka::TopicSettings;
use schema_registry_converter::{
    async_impl::{
        avro::AvroDecoder,
        schema_registry::{SrSettings, post_schema},
    },
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
    /// Writer schemas by id, looked up once each.
    decoder: AvroDecoder,
    /// The id each (topic, type) is written with, registered on first use.
    ids: Mutex<HashMap<(String, RecordType), u32>>,
    /// Each topic's partner-facing type (its `<topic>-value` subject).
    primary: HashMap<String, RecordType>,
}

impl ConfluentCodec {
    /// A codec against the registry `registry`, for the pipeline's `topics`.
    pub fn new(registry: SrSettings, topics: &TopicSettings) -> ConfluentCodec {
        let primary = [
            (&topics.requests_topic, RecordType::RfqRequest),
            (&topics.quotes_topic, RecordType::QuoteResponse),
            (&topics.providers_topic, RecordType::ProviderHeartbeat),
        ]
        .into_iter()
        .map(|(topic, record_type)| (topic.clone(), record_type))
        .collect();
        ConfluentCodec {
            decoder: AvroDecoder::new(registry.clone()),
            registry,
            ids: Mutex::default(),
            primary,
        }
    }

    /// The subject `record_type` is registered under for `topic`.
    pub fn subject(&self, topic: &str, record_type: RecordType) -> String {
        match self.primary.get(topic) {
            Some(primary) if *primary == record_type => format!("{topic}-value"),
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
            .map_err(|error| CodecError::Registry(format!("registering {subject}: {error}")))?;
        ids.insert(key, registered.id);
        Ok(registered.id)
    }
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
            if error.retriable {
                CodecError::Registry(format!("looking up schema id {id}: {error}"))
            } else {
                CodecError::UnknownSchema(format!("schema id {id}: {error}"))
            }
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
