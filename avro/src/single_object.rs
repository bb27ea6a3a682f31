use crate::{Codec, CodecError, Record, RecordType, Schemas, datum};

/// The Avro single-object encoding: `C3 01`, the 8-byte CRC-64-AVRO
/// fingerprint of the writer schema (little-endian), then the Avro binary body.
#[derive(Debug, Default, Clone)]
pub struct SingleObjectCodec;

/// The two marker bytes of the single-object encoding.
const MARKER: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

impl SingleObjectCodec {
    /// The codec.
    pub fn new() -> Self {
        Self
    }

    /// Encodes without the async wrapper.
    pub fn encode_record(&self, record: &Record) -> Result<Vec<u8>, CodecError> {
        let body = datum::write(record)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        bytes.extend_from_slice(&MARKER);
        bytes.extend_from_slice(&Schemas::get().fingerprint(record.record_type()));
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Decodes without the async wrapper.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<Record, CodecError> {
        if bytes.len() < HEADER_LEN {
            return Err(CodecError::Framing(format!(
                "not an Avro single-object record: {} bytes is shorter than the 10-byte header",
                bytes.len()
            )));
        }
        if bytes[..2] != MARKER {
            return Err(CodecError::Framing(format!(
                "not an Avro single-object record: starts with {:02X} {:02X}, not C3 01",
                bytes[0], bytes[1]
            )));
        }
        let fingerprint = &bytes[2..HEADER_LEN];
        let (record_type, schema): (RecordType, _) =
            Schemas::get().by_fingerprint(fingerprint).ok_or_else(|| {
                CodecError::UnknownSchema(format!("fingerprint {}", hex(fingerprint)))
            })?;
        datum::read(record_type, schema, schema, &bytes[HEADER_LEN..])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait::async_trait]
impl Codec for SingleObjectCodec {
    async fn encode(&self, _topic: &str, record: &Record) -> Result<Vec<u8>, CodecError> {
        self.encode_record(record)
    }

    async fn decode(&self, _topic: &str, bytes: &[u8]) -> Result<Record, CodecError> {
        self.decode_record(bytes)
    }
}
