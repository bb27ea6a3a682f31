//! The Avro body of a record, whatever frames it: written with our schema,
//! read with the writer's schema resolved to ours.

mod branches;
mod path;

use crate::{CodecError, Record, RecordType, Schemas, values};
use apache_avro::{
    Schema, reader::datum::GenericDatumReader, schema::ResolvedSchema,
    writer::datum::GenericDatumWriter,
};
use std::{
    io::{ErrorKind, Read},
    sync::LazyLock,
};

/// Our schemas with their named types, resolved once rather than for
/// every record read (which pays for most of what the check of the
/// branches costs).
static OURS: LazyLock<Vec<(&'static Schema, ResolvedSchema<'static>)>> = LazyLock::new(|| {
    RecordType::ALL
        .iter()
        .map(|record_type| Schemas::get().schema(*record_type))
        .filter_map(|schema| Some((schema, ResolvedSchema::try_from(schema).ok()?)))
        .collect()
});

/// The Avro binary body of `record`, written with our schema of its type.
pub(crate) fn write(record: &Record) -> Result<Vec<u8>, CodecError> {
    let schema = Schemas::get().schema(record.record_type());
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|writer| writer.write_value_to_vec(values::to_value(record)))
        .map_err(|error| CodecError::Avro(error.to_string()))
}

/// Reads a body written with `writer` as `reader` (schema resolution: a
/// field the writer added is skipped, one it lacks takes its default),
/// refusing truncated input, trailing bytes, and a union value that would
/// be read as another branch than the writer's (see [`branches`]).
pub(crate) fn read(
    record_type: RecordType,
    writer: &Schema,
    reader: &Schema,
    bytes: &[u8],
) -> Result<Record, CodecError> {
    let avro = |error: apache_avro::Error| CodecError::Avro(error.to_string());
    let mut body = Body::new(bytes);
    // Decoded as written, then resolved (what apache-avro's reader does in
    // one call), so that each union's branch can be compared.
    let written = GenericDatumReader::builder(writer)
        .build()
        .and_then(|datum| datum.read_value(&mut body))
        .map_err(avro)?;
    // Checked before the value is looked at: what apache-avro made of
    // the missing end is not data.
    if body.overrun {
        return Err(CodecError::Avro(format!(
            "truncated: the {} ends before its last field ({} body bytes)",
            record_type.full_name(),
            bytes.len()
        )));
    }
    if !body.rest.is_empty() {
        return Err(CodecError::Avro(format!(
            "{} trailing bytes after the record",
            body.rest.len()
        )));
    }
    let resolved;
    let names = match OURS.iter().find(|(ours, _)| std::ptr::eq(*ours, reader)) {
        Some((_, names)) => names,
        None => {
            resolved = ResolvedSchema::try_from(reader).map_err(avro)?;
            &resolved
        }
    };
    let value = written
        .clone()
        .resolve_with_names(reader, names.get_names())
        .map_err(avro)?;
    branches::check(&written, writer, &value, reader, names.get_names())
        .map_err(CodecError::Avro)?;
    values::from_value(record_type, value)
}

/// The Avro body being decoded, remembering whether the decoder asked for
/// bytes past its end.
///
/// apache-avro (0.22) does not always treat the end of its input as an
/// error: when it hits the end while reading a union's branch index it
/// returns the union's first branch with a null value, and when it hits it
/// inside a string (or a boolean) it returns a null. The `RfqRequest`
/// schema ends in four `["null", …]` unions (the completion rule's `n`,
/// `max_price_minor` and `currency`, then `radius_m`), each one zero byte
/// when null, so an RFQ with its last 1 to 4 bytes cut off decoded as the
/// same, valid, RFQ.
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

#[cfg(test)]
mod evolution_tests;
#[cfg(test)]
mod tests;
