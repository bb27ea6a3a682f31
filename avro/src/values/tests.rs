use crate::{CodecError, Record, RecordType, Schemas, SingleObjectCodec};
use chrono::{TimeZone, Utc};
use rfq_core::*;
use std::time::Duration;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

fn sample_rfq() -> Rfq {
    let from = point(52.52, 13.40);
    Rfq {
        id: CorrelationId::new_random(),
        customer: CustomerId::parse("alice").unwrap(),
        region: Region::of(&from, RegionPrecision::DEFAULT),
        from,
        to: point(52.50, 13.45),
        created_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        deadline: Utc.timestamp_millis_opt(1_700_000_300_123).unwrap(),
        addressed: ["u-1", "u-2"]
            .iter()
            .map(|p| ProviderId::parse(p).unwrap())
            .collect(),
        return_address: ReturnAddress {
            topic: "rfq.quotes".into(),
            partition: 3,
        },
        completion: Completion::Quality(Price::new(1500, Currency::parse("EUR").unwrap()).unwrap()),
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
        Record::Tick(DeadlineTick {
            partition: 3,
            at,
            writer: "aggregator-1".into(),
        }),
        Record::Response(Response {
            rfq: rfq.id,
            provider: ProviderId::parse("u-1").unwrap(),
            responded_at: at,
            outcome: Outcome::Quoted {
                price: Price::new(1234, Currency::parse("EUR").unwrap()).unwrap(),
                pickup_eta_seconds: 240,
            },
        }),
        Record::Response(Response {
            rfq: rfq.id,
            provider: ProviderId::parse("u-2").unwrap(),
            responded_at: at,
            outcome: Outcome::Declined {
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
