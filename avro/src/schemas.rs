use apache_avro::{Schema, rabin::Rabin};
use std::sync::LazyLock;

/// The record types of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `rfq.v1.RfqRequest`
    RfqRequest,
    /// `rfq.v1.QuoteResponse`
    QuoteResponse,
    /// `rfq.v1.ProviderHeartbeat`
    ProviderHeartbeat,
    /// `rfq.v1.DeadlineTick`
    DeadlineTick,
    /// `rfq.v1.PartnerRfq`
    PartnerRfq,
}

impl RecordType {
    /// Every record type.
    pub const ALL: [RecordType; 5] = [
        RecordType::RfqRequest,
        RecordType::QuoteResponse,
        RecordType::ProviderHeartbeat,
        RecordType::DeadlineTick,
        RecordType::PartnerRfq,
    ];

    /// The schema file's text (compiled in from `avro/schemas/`).
    pub fn schema_text(self) -> &'static str {
        match self {
            RecordType::RfqRequest => include_str!("../schemas/rfq_request.avsc"),
            RecordType::QuoteResponse => include_str!("../schemas/quote_response.avsc"),
            RecordType::ProviderHeartbeat => include_str!("../schemas/provider_heartbeat.avsc"),
            RecordType::DeadlineTick => include_str!("../schemas/deadline_tick.avsc"),
            RecordType::PartnerRfq => include_str!("../schemas/partner_rfq.avsc"),
        }
    }

    /// The Avro full name.
    pub fn full_name(self) -> &'static str {
        match self {
            RecordType::RfqRequest => "rfq.v1.RfqRequest",
            RecordType::QuoteResponse => "rfq.v1.QuoteResponse",
            RecordType::ProviderHeartbeat => "rfq.v1.ProviderHeartbeat",
            RecordType::DeadlineTick => "rfq.v1.DeadlineTick",
            RecordType::PartnerRfq => "rfq.v1.PartnerRfq",
        }
    }
}

/// The parsed schemas and their fingerprints.
pub struct Schemas {
    /// Every record type with its schema and fingerprint.
    entries: Vec<(RecordType, Schema, [u8; 8])>,
}

/// The most apache-avro may allocate for one value while decoding. It
/// allocates what a length prefix claims before reading the bytes (bounded
/// by a process-wide limit, 512 MiB by default), so one garbage record could
/// cost hundreds of MiB; none of our records comes near this.
pub const MAX_DECODE_ALLOCATION: usize = 16 * 1024 * 1024;

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    // Set once, before anything of ours is decoded (decoding needs the schemas).
    apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION);
    let entries = RecordType::ALL
        .iter()
        .map(|record_type| {
            // The schema files are part of this crate and checked by its
            // unit tests: a parse failure is a build defect, not input.
            let schema = Schema::parse_str(record_type.schema_text()).unwrap_or_else(|error| {
                panic!("schema {} does not parse: {error}", record_type.full_name())
            });
            let mut fingerprint = [0_u8; 8];
            fingerprint.copy_from_slice(&schema.fingerprint::<Rabin>().bytes);
            (*record_type, schema, fingerprint)
        })
        .collect();
    Schemas { entries }
});

impl Schemas {
    /// The process-wide schemas.
    pub fn get() -> &'static Schemas {
        &SCHEMAS
    }

    /// The schema of `record_type`.
    pub fn schema(&self, record_type: RecordType) -> &Schema {
        &self.entry(record_type).1
    }

    /// The CRC-64-AVRO fingerprint (little-endian) of `record_type`'s schema.
    pub fn fingerprint(&self, record_type: RecordType) -> [u8; 8] {
        self.entry(record_type).2
    }

    /// The record type and schema with this fingerprint.
    pub fn by_fingerprint(&self, fingerprint: &[u8]) -> Option<(RecordType, &Schema)> {
        self.entries
            .iter()
            .find(|(_, _, known)| known.as_slice() == fingerprint)
            .map(|(record_type, schema, _)| (*record_type, schema))
    }

    fn entry(&self, record_type: RecordType) -> &(RecordType, Schema, [u8; 8]) {
        let index = RecordType::ALL
            .iter()
            .position(|known| *known == record_type)
            .unwrap_or_default();
        &self.entries[index]
    }
}
