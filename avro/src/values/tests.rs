use crate::{CodecError, Record, RecordType, Schemas, SingleObjectCodec};
use chrono::{TimeZone, Utc};
use rfq_core::*;
use std::time::Duration;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

fn sample_rfq() -> Rfq {
    Rfq {
        created_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        deadline: Utc.timestamp_millis_opt(1_700_000_300_123).unwrap(),
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition: 3,
        },
        completion: Completion::Quality(Price::new(1500, Currency::parse("EUR").unwrap()).unwrap()),
        ..Rfq::sample(&["u-1", "u-2"])
    }
}

fn samples() -> Vec<Record> {
    let rfq = sample_rfq();
    let at = Utc.timestamp_millis_opt(1_700_000_001_000).unwrap();
    vec![
        Record::Rfq(rfq.clone()),
        Record::Rfq(Rfq {
            completion: Completion::FirstN(2),
            ..rfq.clone()
        }),
        Record::Rfq(Rfq {
            completion: Completion::Quorum(1),
            ..rfq.clone()
        }),
        Record::Rfq(Rfq {
            completion: Completion::Deadline,
            ..rfq.clone()
        }),
        Record::Rfq(Rfq {
            completion: Completion::All,
            addressed: Default::default(),
            ..rfq.clone()
        }),
        Record::Rfq(Rfq {
            radius: None,
            ..rfq.clone()
        }),
        Record::Tick(DeadlineTick {
            partition: 3,
            at,
            writer: "aggregator-1".into(),
        }),
        Record::Answer(Answer {
            rfq: rfq.id,
            provider: ProviderId::parse("u-1").unwrap(),
            responded_at: at,
            reply: Reply::Quoted {
                price: Price::new(1234, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 240,
            },
        }),
        Record::Answer(Answer {
            rfq: rfq.id,
            provider: ProviderId::parse("u-2").unwrap(),
            responded_at: at,
            reply: Reply::Declined {
                reason: "busy".into(),
            },
        }),
        Record::Heartbeat(ProviderHeartbeat {
            provider: ProviderId::parse("u-1").unwrap(),
            adapter: "berlin".into(),
            region: rfq.region.clone(),
            position: point(52.521, 13.401),
            status: ProviderStatus::Offline,
            at,
            valid_for: Duration::from_secs(30),
        }),
        Record::PartnerRfq(PartnerRfq {
            id: rfq.id,
            pickup: rfq.from,
            destination: rfq.to,
            deadline: rfq.deadline,
            answer_by: at,
            providers: vec![ProviderId::parse("u-1").unwrap()],
            answer_to: "rfq.door.u.answers".into(),
        }),
    ]
}

#[test]
fn every_record_type_round_trips() {
    let codec = SingleObjectCodec::new();
    for record in samples() {
        let bytes = codec.encode_record(&record).unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        assert_eq!(codec.decode_record(&bytes).unwrap(), record);
    }
}

#[test]
fn fingerprints_are_distinct_and_follow_the_spec() {
    let schemas = Schemas::get();
    let prints: std::collections::HashSet<_> = RecordType::ALL
        .iter()
        .map(|t| schemas.fingerprint(*t))
        .collect();
    assert_eq!(prints.len(), RecordType::ALL.len());
    // The CRC-64-AVRO fingerprint of the schema "int" is fixed by the Avro
    // specification's test vectors: 0x7275d51a3f395c8f.
    let int = apache_avro::Schema::parse_str(r#""int""#).unwrap();
    let bytes = int.fingerprint::<apache_avro::rabin::Rabin>().bytes;
    assert_eq!(
        u64::from_le_bytes(bytes.try_into().unwrap()),
        0x7275_d51a_3f39_5c8f
    );
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let codec = SingleObjectCodec::new();
    assert!(matches!(
        codec.decode_record(b"{\"json\": true}"),
        Err(CodecError::Framing(_))
    ));
    assert!(matches!(
        codec.decode_record(&[0xC3, 0x01]),
        Err(CodecError::Framing(_))
    ));
    let unknown = [0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    assert!(matches!(
        codec.decode_record(&unknown),
        Err(CodecError::UnknownSchema(_))
    ));
    let mut truncated = codec.encode_record(&samples()[0]).unwrap();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        codec.decode_record(&truncated),
        Err(CodecError::Avro(_))
    ));
}

#[test]
fn valid_avro_with_invalid_content_is_refused() {
    let codec = SingleObjectCodec::new();
    let Record::Rfq(rfq) = &samples()[0] else {
        unreachable!()
    };
    // A latitude of 200 cannot be built as a GeoPoint, so write the value by hand.
    let mut value = super::rfq_value(rfq);
    if let apache_avro::types::Value::Record(fields) = &mut value {
        fields[3].1 = apache_avro::types::Value::Record(vec![
            ("lat".into(), apache_avro::types::Value::Double(200.0)),
            ("lon".into(), apache_avro::types::Value::Double(13.0)),
        ]);
    }
    let schemas = Schemas::get();
    let body = apache_avro::writer::datum::GenericDatumWriter::builder(
        schemas.schema(RecordType::RfqRequest),
    )
    .build()
    .unwrap()
    .write_value_to_vec(value)
    .unwrap();
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&schemas.fingerprint(RecordType::RfqRequest));
    bytes.extend_from_slice(&body);
    let error = codec.decode_record(&bytes).unwrap_err();
    assert!(error.to_string().contains("pickup.lat"), "{error}");
}

#[test]
fn every_record_type_cut_short_is_refused() {
    let codec = SingleObjectCodec::new();
    let mut seen = std::collections::HashSet::new();
    for record in samples() {
        seen.insert(record.record_type());
        let bytes = codec.encode_record(&record).unwrap();
        for cut in 1..=bytes.len() {
            let truncated = &bytes[..bytes.len() - cut];
            let decoded = codec.decode_record(truncated);
            assert!(
                decoded.is_err(),
                "{:?} without its last {cut} of {} bytes decoded as {decoded:?}",
                record.record_type(),
                bytes.len()
            );
        }
    }
    assert_eq!(
        seen.len(),
        RecordType::ALL.len(),
        "every record type is tried"
    );
}

#[test]
fn an_rfq_without_its_trailing_null_unions_is_refused_as_truncated() {
    // The case a tester found: the RFQ body ends in one-byte nulls
    // (completion n, max_price_minor, currency; and radius_m of an RFQ from
    // before vicinity), which apache-avro made up from the end of the input.
    let codec = SingleObjectCodec::new();
    let Record::Rfq(rfq) = &samples()[0] else {
        unreachable!()
    };
    let record = Record::Rfq(Rfq {
        completion: Completion::All,
        radius: None,
        ..rfq.clone()
    });
    let bytes = codec.encode_record(&record).unwrap();
    assert_eq!(&bytes[bytes.len() - 4..], &[0, 0, 0, 0]);
    for cut in 1..=4 {
        let error = codec
            .decode_record(&bytes[..bytes.len() - cut])
            .unwrap_err();
        assert!(error.to_string().contains("truncated"), "{error}");
    }
}

/// splitmix64: a deterministic stream of pseudo-random numbers, so that a
/// failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn bit_flips_and_garbage_never_panic() {
    let codec = SingleObjectCodec::new();
    let encoded: Vec<Vec<u8>> = samples()
        .iter()
        .map(|record| codec.encode_record(record).unwrap())
        .collect();
    let mut rng = Rng(0x5EED);
    for round in 0..20_000 {
        let original = &encoded[round % encoded.len()];
        let mut bytes = original.clone();
        match round % 4 {
            // One to four flipped bits anywhere after the header (a flipped
            // header is refused before the body is looked at).
            0 | 1 => {
                for _ in 0..=rng.below(4) {
                    let at = 10 + rng.below(bytes.len() - 10);
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            // Random bytes overwritten.
            2 => {
                for _ in 0..=rng.below(8) {
                    let at = 10 + rng.below(bytes.len() - 10);
                    bytes[at] = rng.next() as u8;
                }
            }
            // A valid header and a random body of random length.
            _ => {
                bytes.truncate(10);
                for _ in 0..rng.below(64) {
                    bytes.push(rng.next() as u8);
                }
            }
        }
        // Must return, Ok or Err, and never panic; what decodes must be a
        // record that encodes again.
        if let Ok(record) = codec.decode_record(&bytes) {
            codec.encode_record(&record).unwrap();
        }
    }
    // Wholly random input, header included.
    for _ in 0..5_000 {
        let bytes: Vec<u8> = (0..rng.below(80)).map(|_| rng.next() as u8).collect();
        let _ = codec.decode_record(&bytes);
    }
}

#[test]
fn a_length_prefix_beyond_the_record_costs_no_huge_allocation() {
    // An RFQ body whose first string claims 400 MiB: refused without
    // apache-avro allocating the claimed length.
    let schemas = Schemas::get();
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend_from_slice(&schemas.fingerprint(RecordType::RfqRequest));
    // zigzag varint of 400 MiB
    let mut n: u64 = (400 * 1024 * 1024) << 1;
    while n > 0x7F {
        bytes.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
    let error = SingleObjectCodec::new().decode_record(&bytes).unwrap_err();
    assert!(matches!(error, CodecError::Avro(_)), "{error}");
    let limit = format!("maximum allowed: {}", crate::MAX_DECODE_ALLOCATION);
    assert!(error.to_string().contains(&limit), "{error}");
}

#[test]
fn an_invalid_record_names_its_provider_as_far_as_it_can_be_read() {
    let answer = samples()
        .into_iter()
        .find_map(|record| match record {
            Record::Answer(answer) => Some(answer),
            _ => None,
        })
        .unwrap();
    let with_provider = |provider: &str| {
        let mut value = super::answer_value(&answer);
        if let apache_avro::types::Value::Record(fields) = &mut value {
            for (name, field) in fields.iter_mut() {
                if name == "provider" {
                    *field = apache_avro::types::Value::String(provider.to_owned());
                }
            }
        }
        super::from_value(RecordType::QuoteResponse, value).unwrap_err()
    };
    // An id too long to be one: refused, and named (cut) in the dead letter.
    let long = "acme-".repeat(40);
    let error = with_provider(&long);
    assert!(error.to_string().contains("provider"), "{error}");
    assert_eq!(error.provider(), Some(&long[..crate::MAX_PROVIDER_SHOWN]));
    // A record without a provider field names none.
    let Record::Rfq(rfq) = &samples()[0] else {
        unreachable!()
    };
    let mut value = super::rfq_value(rfq);
    if let apache_avro::types::Value::Record(fields) = &mut value {
        fields[0].1 = apache_avro::types::Value::String("not-a-uuid".into());
    }
    let error = super::from_value(RecordType::RfqRequest, value).unwrap_err();
    assert_eq!(error.provider(), None, "{error}");
}

/// The RfqRequest schema as it was before `radius_m`: ours without it.
fn rfq_schema_before_vicinity() -> apache_avro::Schema {
    let mut before: serde_json::Value =
        serde_json::from_str(RecordType::RfqRequest.schema_text()).unwrap();
    let fields = before["fields"].as_array_mut().unwrap();
    let count = fields.len();
    fields.retain(|field| field["name"] != "radius_m");
    assert_eq!(fields.len(), count - 1, "radius_m is ours");
    apache_avro::Schema::parse_str(&before.to_string()).unwrap()
}

#[test]
fn an_rfq_from_before_vicinity_reads_with_no_radius_and_the_schema_stays_backward() {
    use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
    let ours = Schemas::get().schema(RecordType::RfqRequest);
    let before = rfq_schema_before_vicinity();
    // BACKWARD: our schema reads what the previous one wrote.
    assert!(matches!(
        SchemaCompatibility::can_read(&before, ours),
        Ok(Compatibility::Full)
    ));
    let Record::Rfq(rfq) = &samples()[0] else {
        unreachable!()
    };
    assert!(rfq.radius.is_some());
    let mut value = super::rfq_value(rfq);
    if let apache_avro::types::Value::Record(fields) = &mut value {
        fields.retain(|(name, _)| name != "radius_m");
    }
    let body = apache_avro::writer::datum::GenericDatumWriter::builder(&before)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap();
    let read = crate::datum::read(RecordType::RfqRequest, &before, ours, &body).unwrap();
    assert_eq!(
        read,
        Record::Rfq(Rfq {
            radius: None,
            ..rfq.clone()
        })
    );
}

#[test]
fn a_radius_out_of_range_is_refused() {
    let Record::Rfq(rfq) = &samples()[0] else {
        unreachable!()
    };
    for metres in [0, -5, 100_001] {
        let mut value = super::rfq_value(rfq);
        if let apache_avro::types::Value::Record(fields) = &mut value {
            for (name, field) in fields.iter_mut() {
                if name == "radius_m" {
                    *field = apache_avro::types::Value::Union(
                        1,
                        Box::new(apache_avro::types::Value::Int(metres)),
                    );
                }
            }
        }
        let error = super::from_value(RecordType::RfqRequest, value).unwrap_err();
        assert!(error.to_string().contains("radius_m"), "{metres}: {error}");
    }
}
