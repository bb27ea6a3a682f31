//! Reading records written with partners' schemas: a union value is read
//! as the writer's branch or refused, never as another branch.

use super::read;
use crate::{CodecError, Record, RecordType, Schemas, values};
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{Schema, reader::datum::GenericDatumReader, types::Value};
use chrono::{TimeZone, Utc};
use rfq_core::{Answer, CorrelationId, Currency, Price, ProviderId, Reply};
use serde_json::{Value as Json, json};

/// What a partner writes in `outcome`, whatever its schema.
#[derive(Debug, Clone)]
pub(super) enum Written {
    Quote {
        price: i64,
        currency: String,
        eta: i32,
    },
    Decline {
        reason: String,
    },
    Null,
}

pub(super) const CORRELATION_ID: &str = "6c0b7a52-58a3-4a39-9d5c-7d1c1b6f0a11";
pub(super) const RESPONDED_AT: i64 = 1_764_000_000_000;

/// Our QuoteResponse schema as JSON, for partners' schemas to start from.
pub(super) fn ours() -> Json {
    serde_json::from_str(RecordType::QuoteResponse.schema_text()).unwrap()
}

/// The branches of `outcome` in `schema`.
pub(super) fn outcome(schema: &mut Json) -> &mut Vec<Json> {
    schema["fields"][3]["type"].as_array_mut().unwrap()
}

/// The branch named `name` of `outcome` in `schema`.
pub(super) fn branch<'a>(schema: &'a mut Json, name: &str) -> &'a mut Json {
    outcome(schema)
        .iter_mut()
        .find(|branch| branch["name"] == name)
        .unwrap()
}

/// The fields of the branch named `name`.
fn fields<'a>(schema: &'a mut Json, name: &str) -> &'a mut Vec<Json> {
    branch(schema, name)["fields"].as_array_mut().unwrap()
}

/// The value of a field `name` of Avro type `ty` in what `written` says.
fn field_value(name: &str, ty: &Json, written: &Written) -> Value {
    if let Json::Array(branches) = ty {
        let index = branches.iter().position(|b| b != "null").unwrap();
        let inner = field_value(name, &branches[index], written);
        return Value::Union(u32::try_from(index).unwrap(), Box::new(inner));
    }
    let (price, currency, eta, reason) = match written {
        Written::Quote {
            price,
            currency,
            eta,
        } => (*price, currency.clone(), *eta, String::new()),
        Written::Decline { reason } => (5, "EUR".to_owned(), 60, reason.clone()),
        Written::Null => unreachable!(),
    };
    match (name, ty.as_str().unwrap()) {
        ("price_minor", "long") => Value::Long(price),
        ("currency", "string") => Value::String(currency),
        ("pickup_eta_seconds", "int") => Value::Int(eta),
        ("reason", "string") => Value::String(reason),
        (_, "string") => Value::String(format!("{name} of the partner")),
        (_, "int") => Value::Int(4),
        (_, "long") => Value::Long(4),
        (_, other) => panic!("no value of type {other}"),
    }
}

/// The body a partner writes with `schema` (ours, edited).
pub(super) fn write(schema: &Json, written: &Written) -> (Schema, Vec<u8>) {
    let branches = schema["fields"][3]["type"].as_array().unwrap();
    let (index, value) = match written {
        Written::Null => (
            branches.iter().position(|b| b == "null").unwrap(),
            Value::Null,
        ),
        Written::Quote { .. } | Written::Decline { .. } => {
            let name = match written {
                Written::Quote { .. } => "Quote",
                _ => "Decline",
            };
            let index = branches.iter().position(|b| b["name"] == name).unwrap();
            let fields = branches[index]["fields"].as_array().unwrap();
            let record = fields
                .iter()
                .map(|field| {
                    let name = field["name"].as_str().unwrap();
                    (name.to_owned(), field_value(name, &field["type"], written))
                })
                .collect();
            (index, Value::Record(record))
        }
    };
    let value = Value::Record(vec![
        (
            "correlation_id".into(),
            Value::String(CORRELATION_ID.into()),
        ),
        ("provider".into(), Value::String("partner-1".into())),
        ("responded_at".into(), Value::TimestampMillis(RESPONDED_AT)),
        (
            "outcome".into(),
            Value::Union(u32::try_from(index).unwrap(), Box::new(value)),
        ),
    ]);
    let schema = Schema::parse_str(&schema.to_string()).unwrap();
    let body = GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap();
    (schema, body)
}

/// Reads what a partner wrote with `schema` as ours.
pub(super) fn read_as_ours(schema: &Json, written: &Written) -> Result<Record, CodecError> {
    let (writer, body) = write(schema, written);
    read(
        RecordType::QuoteResponse,
        &writer,
        Schemas::get().schema(RecordType::QuoteResponse),
        &body,
    )
}

/// The answer with `reply`, as [`write`] writes it.
pub(super) fn answer(reply: Reply) -> Record {
    Record::Answer(Answer {
        rfq: CorrelationId::parse(CORRELATION_ID).unwrap(),
        provider: ProviderId::parse("partner-1").unwrap(),
        responded_at: Utc.timestamp_millis_opt(RESPONDED_AT).unwrap(),
        reply,
    })
}

fn quote_of_12_37() -> Written {
    Written::Quote {
        price: 1237,
        currency: "EUR".into(),
        eta: 240,
    }
}

fn quoted_price() -> Price {
    Price::new(1500, Currency::parse("EUR").unwrap()).unwrap()
}

fn quoted(price: i64, eta: u32) -> Record {
    answer(Reply::Quoted {
        price: Price::new(price, Currency::parse("EUR").unwrap()).unwrap(),
        pickup_eta_seconds: eta,
    })
}

fn declined(reason: &str) -> Record {
    answer(Reply::Declined {
        reason: reason.into(),
    })
}

/// The partner's "v3": a Quote without `pickup_eta_seconds`.
fn v3() -> Json {
    let mut v3 = ours();
    fields(&mut v3, "Quote").retain(|field| field["name"] != "pickup_eta_seconds");
    v3
}

#[test]
fn a_quote_written_without_a_field_of_ours_is_refused_never_read_as_a_decline() {
    let v3 = v3();
    let (writer, body) = write(&v3, &quote_of_12_37());
    // What apache-avro alone makes of it: our Decline, with the reason "".
    let ours = Schemas::get().schema(RecordType::QuoteResponse);
    let resolved = GenericDatumReader::builder(&writer)
        .reader_schema(ours)
        .build()
        .unwrap()
        .read_value(&mut body.as_slice())
        .unwrap();
    let Value::Record(fields) = resolved else {
        panic!("a record")
    };
    assert!(matches!(fields[3].1, Value::Union(1, _)), "{:?}", fields[3]);
    // What we make of it: a refusal.
    let error = read_as_ours(&v3, &quote_of_12_37()).unwrap_err();
    assert!(matches!(error, CodecError::Avro(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "invalid Avro data: outcome: the writer's branch rfq.v1.Quote cannot be read as our \
         rfq.v1.Quote (field pickup_eta_seconds missing and without default); refusing rather \
         than reading it as another branch (rfq.v1.Decline)"
    );
}

#[test]
fn a_decline_written_with_that_schema_still_reads_as_a_decline() {
    let written = Written::Decline {
        reason: "no unicorn free".into(),
    };
    assert_eq!(
        read_as_ours(&v3(), &written).unwrap(),
        declined("no unicorn free")
    );
}

#[test]
fn a_quote_with_a_field_we_do_not_know_reads() {
    let mut v4 = ours();
    fields(&mut v4, "Quote")
        .push(json!({"name": "vehicle", "type": ["null", "string"], "default": null}));
    assert_eq!(
        read_as_ours(&v4, &quote_of_12_37()).unwrap(),
        quoted(1237, 240)
    );
}

#[test]
fn union_branches_in_another_order_read_as_themselves() {
    let mut reordered = ours();
    outcome(&mut reordered).reverse();
    assert_eq!(outcome(&mut reordered)[0]["name"], "Decline");
    assert_eq!(
        read_as_ours(&reordered, &quote_of_12_37()).unwrap(),
        quoted(1237, 240)
    );
    let decline = Written::Decline {
        reason: "closed".into(),
    };
    assert_eq!(
        read_as_ours(&reordered, &decline).unwrap(),
        declined("closed")
    );
}

#[test]
fn a_branch_the_writer_renamed_is_refused() {
    // Without an alias of ours naming it, a Refusal is not our Decline,
    // although apache-avro alone reads it as one.
    let mut renamed = ours();
    branch(&mut renamed, "Decline")["name"] = json!("Refusal");
    let writer = Schema::parse_str(&renamed.to_string()).unwrap();
    // The same bytes as our Decline's.
    let (_, body) = write(
        &ours(),
        &Written::Decline {
            reason: "busy".into(),
        },
    );
    let ours = Schemas::get().schema(RecordType::QuoteResponse);
    let error = read(RecordType::QuoteResponse, &writer, ours, &body).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid Avro data: outcome: the writer's branch rfq.v1.Refusal has no counterpart \
         among ours (rfq.v1.Quote, rfq.v1.Decline); refusing rather than reading it as \
         rfq.v1.Decline"
    );
}

#[test]
fn nullable_fields_still_read_and_a_null_is_never_read_as_a_value() {
    // Ours: every ["null", X] of the RfqRequest, null and not.
    let codec = crate::SingleObjectCodec::new();
    let rfq = rfq_core::Rfq::sample(&["a"]);
    for rfq in [
        rfq.clone(),
        rfq_core::Rfq {
            radius: None,
            completion: rfq_core::Completion::FirstN(2),
            ..rfq.clone()
        },
        rfq_core::Rfq {
            completion: rfq_core::Completion::Quality(quoted_price()),
            ..rfq.clone()
        },
    ] {
        let record = Record::Rfq(rfq);
        let bytes = codec.encode_record(&record).unwrap();
        assert_eq!(codec.decode_record(&bytes).unwrap(), record);
    }
    // A partner whose outcome may be null: its quotes and declines read,
    // its null (we have no null branch) is refused.
    let mut nullable = ours();
    outcome(&mut nullable).insert(0, json!("null"));
    assert_eq!(
        read_as_ours(&nullable, &quote_of_12_37()).unwrap(),
        quoted(1237, 240)
    );
    assert_eq!(
        read_as_ours(&nullable, &Written::Decline { reason: "x".into() }).unwrap(),
        declined("x")
    );
    assert!(read_as_ours(&nullable, &Written::Null).is_err());
    // A partner whose provider may be null: a provider reads.
    let mut optional = ours();
    optional["fields"][1]["type"] = json!(["null", "string"]);
    let optional_schema = Schema::parse_str(&optional.to_string()).unwrap();
    let Value::Record(mut fields) = values::to_value(&quoted(1237, 240)) else {
        panic!("a record")
    };
    fields[1].1 = Value::Union(1, Box::new(fields[1].1.clone()));
    let body = GenericDatumWriter::builder(&optional_schema)
        .build()
        .unwrap()
        .write_value_to_vec(Value::Record(fields.clone()))
        .unwrap();
    let ours = Schemas::get().schema(RecordType::QuoteResponse);
    assert_eq!(
        read(RecordType::QuoteResponse, &optional_schema, ours, &body).unwrap(),
        quoted(1237, 240)
    );
    // ... and a null provider is refused, not read as some string.
    fields[1].1 = Value::Union(0, Box::new(Value::Null));
    let body = GenericDatumWriter::builder(&optional_schema)
        .build()
        .unwrap()
        .write_value_to_vec(Value::Record(fields))
        .unwrap();
    assert!(read(RecordType::QuoteResponse, &optional_schema, ours, &body).is_err());
}

/// The cost of one read of a quote written with our schema (run with
/// `cargo test --release -p rfq-avro -- --ignored --nocapture read_cost`).
#[test]
#[ignore = "a measurement, not a test"]
fn read_cost() {
    let ours: &Schema = Schemas::get().schema(RecordType::QuoteResponse);
    let mut v4 = self::ours();
    fields(&mut v4, "Quote")
        .push(json!({"name": "vehicle", "type": ["null", "string"], "default": null}));
    let (v4, v4_body) = write(&v4, &quote_of_12_37());
    let record = quoted(1237, 240);
    let body = GenericDatumWriter::builder(ours)
        .build()
        .unwrap()
        .write_value_to_vec(values::to_value(&record))
        .unwrap();
    let rounds = 100_000;
    for (what, writer, body) in [("ours", ours, &body), ("a partner's v4", &v4, &v4_body)] {
        for _ in 0..rounds / 10 {
            read(RecordType::QuoteResponse, writer, ours, body).unwrap();
        }
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(read(RecordType::QuoteResponse, writer, ours, body).unwrap());
        }
        let elapsed = start.elapsed();
        println!(
            "read_cost: {:.2} µs per read of a {}-byte quote written with {what}",
            elapsed.as_secs_f64() * 1e6 / f64::from(rounds),
            body.len()
        );
    }
}
