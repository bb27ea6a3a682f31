use crate::{Codec, CodecError, Record, RecordType, Schemas, values};
use apache_avro::{reader::datum::GenericDatumReader, writer::datum::GenericDatumWriter};
use std::io::{ErrorKind, Read};

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
        let schemas = Schemas::get();
        let record_type = record.record_type();
        let schema = schemas.schema(record_type);
        let value = values::to_value(record);
        let body = GenericDatumWriter::builder(schema)
            .build()
            .and_then(|writer| writer.write_value_to_vec(value))
            .map_err(|error| CodecError::Avro(error.to_string()))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        bytes.extend_from_slice(&MARKER);
        bytes.extend_from_slice(&schemas.fingerprint(record_type));
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Decodes without the async wrapper.
    pub fn decode_record(&self, bytes: &[u8]) -> Result<Record, CodecError> {
        if bytes.len() < HEADER_LEN {
            return Err(CodecError::Framing(format!(
                "{} bytes is shorter than the 10-byte header",
                bytes.len()
            )));
        }
        if bytes[..2] != MARKER {
            return Err(CodecError::Framing(format!(
                "starts with {:02X} {:02X}, not C3 01",
                bytes[0], bytes[1]
            )));
        }
        let fingerprint = &bytes[2..HEADER_LEN];
        let (record_type, schema): (RecordType, _) = Schemas::get()
            .by_fingerprint(fingerprint)
            .ok_or_else(|| CodecError::UnknownSchema(hex(fingerprint)))?;
        let mut body = Body::new(&bytes[HEADER_LEN..]);
        let value = GenericDatumReader::builder(schema)
            .build()
            .and_then(|reader| reader.read_value(&mut body))
            .map_err(|error| CodecError::Avro(error.to_string()))?;
        // Checked before the value is looked at: what apache-avro made of
        // the missing end is not data.
        if body.overrun {
            return Err(CodecError::Avro(format!(
                "truncated: the {} ends before its last field ({} body bytes)",
                record_type.full_name(),
                bytes.len() - HEADER_LEN
            )));
        }
        if !body.rest.is_empty() {
            return Err(CodecError::Avro(format!(
                "{} trailing bytes after the record",
                body.rest.len()
            )));
        }
        values::from_value(record_type, value)
    }
}

/// The Avro body being decoded, remembering whether the decoder asked for
/// bytes past its end.
///
/// apache-avro (0.22) does not always treat the end of its input as an
/// error: when it hits the end while reading a union's branch index it
/// returns the union's first branch with a null value, and when it hits it
/// inside a string (or a boolean) it returns a null. The `RfqRequest`
/// schema ends in three `["null", …]` unions (the completion rule's `n`,
/// `max_price_minor` and `currency`), each one zero byte when null, so an
/// RFQ with its last 1 to 3 bytes cut off decoded as the same, valid, RFQ.
/// Any read past the end is therefore noted here and refused afterwards,
/// whatever value the decoder made of it.
struct Body<'a> {
    /// Bytes not read yet.
    rest: &'a [u8],
    /// Whether a read wanted more bytes than were left.
    overrun: bool,
}

impl<'a> Body<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            overrun: false,
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !buf.is_empty() && self.rest.is_empty() {
            self.overrun = true;
        }
        let n = buf.len().min(self.rest.len());
        let (now, later) = self.rest.split_at(n);
        buf[..n].copy_from_slice(now);
        self.rest = later;
        Ok(n)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        if buf.len() > self.rest.len() {
            self.overrun = true;
            self.rest = &[];
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let (now, later) = self.rest.split_at(buf.len());
        buf.copy_from_slice(now);
        self.rest = later;
        Ok(())
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
