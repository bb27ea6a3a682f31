//! The codec against a real registry (ours, served over HTTP on a free
//! port, as `rfq up` serves it).

use super::*;
use apache_avro::{Schema, types::Value, writer::datum::GenericDatumWriter};
use chrono::{TimeZone, Utc};
use rfq_core::{Answer, CorrelationId, Currency, Price, ProviderId, Reply, Rfq};

/// Serves a registry (in memory) on a free port; its URL.
async fn registry() -> String {
    let registry = rfq_registry::Registry::open(Box::new(rfq_registry::MemoryLog::default()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, rfq_registry::router(registry)).await });
    url
}

/// Registry settings with `url` and defaults otherwise.
fn settings(url: &str) -> SchemaRegistrySettings {
    SchemaRegistrySettings {
        registry_url: Some(url.to_owned()),
        ..Default::default()
    }
}

fn codec(url: &str) -> ConfluentCodec {
    ConfluentCodec::new(&settings(url), &TopicSettings::default()).unwrap()
}

fn answer() -> Answer {
    Answer {
        rfq: CorrelationId::new_random(),
        provider: ProviderId::parse("partner-1").unwrap(),
        responded_at: Utc.timestamp_millis_opt(1_764_000_000_000).unwrap(),
        reply: Reply::Quoted {
            price: Price::new(1230, Currency::parse("EUR").unwrap()).unwrap(),
            pickup_eta_seconds: 240,
        },
    }
}

#[tokio::test]
async fn records_round_trip_with_the_ids_of_their_subjects() {
    let url = registry().await;
    let codec = codec(&url);
    let rfq = Record::Rfq(Rfq::sample(&["a"]));
    let bytes = codec.encode("rfq.quotes", &rfq).await.unwrap();
    assert_eq!(bytes[0], 0, "magic byte");
    assert_eq!(codec.decode("rfq.quotes", &bytes).await.unwrap(), rfq);
    let quote = Record::Answer(answer());
    let framed = codec.encode("rfq.quotes", &quote).await.unwrap();
    assert_eq!(codec.decode("rfq.quotes", &framed).await.unwrap(), quote);
    assert_eq!(
        codec.subject("rfq.quotes", RecordType::QuoteResponse),
        "rfq.quotes-value"
    );
    assert_eq!(
        codec.subject("rfq.quotes", RecordType::RfqRequest),
        "rfq.quotes-rfq.v1.RfqRequest"
    );
    // Another codec (another process) finds the same ids.
    let other_process = self::codec(&url);
    let again = other_process.encode("rfq.quotes", &quote).await.unwrap();
    assert_eq!(again[..5], framed[..5]);
}

#[test]
fn a_doors_topics_are_named_by_their_partner_facing_types() {
    let codec = codec("http://127.0.0.1:1");
    let door = rfq_core::PartnerName::parse("acme").unwrap().door();
    for (topic, record_type) in [
        (door.rfqs_topic(), RecordType::PartnerRfq),
        (door.answers_topic(), RecordType::QuoteResponse),
        (door.heartbeats_topic(), RecordType::ProviderHeartbeat),
    ] {
        assert_eq!(codec.subject(&topic, record_type), format!("{topic}-value"));
    }
    assert_eq!(
        codec.subject(&door.answers_topic(), RecordType::PartnerRfq),
        "rfq.door.acme.answers-rfq.v1.PartnerRfq"
    );
    // Not a door: a topic merely named like one is not.
    assert_eq!(
        codec.subject("rfq.door.Acme.rfqs", RecordType::PartnerRfq),
        "rfq.door.Acme.rfqs-rfq.v1.PartnerRfq"
    );
}

#[tokio::test]
async fn a_partner_on_a_newer_compatible_schema_is_understood() {
    let url = registry().await;
    let codec = codec(&url);
    // QuoteResponse v2: an optional field with a default, registered by the partner.
    let mut v2: serde_json::Value =
        serde_json::from_str(RecordType::QuoteResponse.schema_text()).unwrap();
    v2["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "note", "type": ["null", "string"], "default": null}));
    crate::choose_crypto_provider();
    let settings = SrSettings::new(url.clone());
    let supplied = SuppliedSchema::new(None, SchemaType::Avro, v2.to_string());
    let registered = post_schema(&settings, "rfq.quotes-value".into(), supplied)
        .await
        .unwrap();
    let v2 = Schema::parse_str(&v2.to_string()).unwrap();
    // The partner's record: ours plus the note.
    let expected = answer();
    let Value::Record(mut fields) = crate::values::to_value(&Record::Answer(expected.clone()))
    else {
        panic!("a record")
    };
    fields.push((
        "note".into(),
        Value::Union(1, Box::new(Value::String("child seat".into()))),
    ));
    let body = GenericDatumWriter::builder(&v2)
        .build()
        .unwrap()
        .write_value_to_vec(Value::Record(fields))
        .unwrap();
    let mut bytes = vec![0];
    bytes.extend_from_slice(&registered.id.to_be_bytes());
    bytes.extend_from_slice(&body);
    assert_eq!(
        codec.decode("rfq.quotes", &bytes).await.unwrap(),
        Record::Answer(expected)
    );
}

#[tokio::test]
async fn unknown_ids_bad_framing_and_an_unreachable_registry_are_told_apart() {
    let url = registry().await;
    let codec = codec(&url);
    let unknown = codec
        .decode("rfq.quotes", &[0, 0, 0, 3, 231, 1])
        .await
        .unwrap_err();
    assert!(matches!(unknown, CodecError::UnknownSchema(_)), "{unknown}");
    assert!(unknown.to_string().contains("schema id 999"), "{unknown}");
    let framing = codec
        .decode("rfq.quotes", &[0xC3, 1, 2, 3, 4, 5])
        .await
        .unwrap_err();
    assert!(matches!(framing, CodecError::Framing(_)), "{framing}");
    let short = codec.decode("rfq.quotes", &[0, 0]).await.unwrap_err();
    assert!(matches!(short, CodecError::Framing(_)), "{short}");
    // Nobody listens there: not the record's fault.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = self::codec(&format!("http://127.0.0.1:{port}"));
    let error = down
        .encode("rfq.quotes", &Record::Answer(answer()))
        .await
        .unwrap_err();
    assert!(matches!(error, CodecError::Registry(_)), "{error}");
}

/// The compatibility level of `subject`, as the registry answers it.
async fn subject_level(url: &str, subject: &str) -> String {
    let level: serde_json::Value = reqwest::get(format!("{url}/config/{subject}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    level["compatibilityLevel"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_pipeline_registers_its_schemas_backward_compatible_keeping_a_level_set_before() {
    let url = registry().await;
    let http = reqwest::Client::new();
    // An operator chose FULL for the quotes subject before we started.
    let response = http
        .put(format!("{url}/config/rfq.quotes-value"))
        .json(&serde_json::json!({"compatibility": "FULL"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let registered = codec(&url).register_pipeline(None).await.unwrap();
    let levels: Vec<(&str, &str)> = registered
        .iter()
        .map(|r| (r.subject.as_str(), r.compatibility.as_str()))
        .collect();
    assert_eq!(
        levels,
        [
            ("rfq.requests-value", "BACKWARD"),
            ("rfq.quotes-rfq.v1.RfqRequest", "BACKWARD"),
            ("rfq.quotes-value", "FULL"),
            ("rfq.quotes-rfq.v1.DeadlineTick", "BACKWARD"),
            ("rfq.providers-value", "BACKWARD"),
        ]
    );
    assert_eq!(subject_level(&url, "rfq.providers-value").await, "BACKWARD");
    // Idempotent: another process (or a restart) gets the same ids.
    assert_eq!(
        codec(&url).register_pipeline(None).await.unwrap(),
        registered
    );
    // `rfq migrate --schema-compatibility FORWARD` sets every subject's.
    let migrated = codec(&url)
        .register_pipeline(Some("FORWARD"))
        .await
        .unwrap();
    assert!(
        migrated.iter().all(|r| r.compatibility == "FORWARD"),
        "{migrated:?}"
    );
    assert_eq!(subject_level(&url, "rfq.quotes-value").await, "FORWARD");
}

#[tokio::test]
async fn a_subject_holding_an_incompatible_schema_stops_the_pipeline_with_the_registrys_reason() {
    let url = registry().await;
    // Someone registered a QuoteResponse whose provider is a number.
    let mut theirs: serde_json::Value =
        serde_json::from_str(RecordType::QuoteResponse.schema_text()).unwrap();
    for field in theirs["fields"].as_array_mut().unwrap() {
        if field["name"] == "provider" {
            field["type"] = serde_json::json!("long");
        }
    }
    crate::choose_crypto_provider();
    let supplied = SuppliedSchema::new(None, SchemaType::Avro, theirs.to_string());
    post_schema(
        &SrSettings::new(url.clone()),
        "rfq.quotes-value".into(),
        supplied,
    )
    .await
    .unwrap();
    let error = codec(&url).register_pipeline(None).await.unwrap_err();
    assert!(matches!(error, CodecError::Refused(_)), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("rfq.quotes-value") && text.contains("409"),
        "{text}"
    );
    // `rfq migrate --schema-compatibility NONE` sets the level before it
    // registers, so an operator can let the change through.
    let registered = codec(&url).register_pipeline(Some("NONE")).await.unwrap();
    assert!(
        registered.iter().all(|r| r.compatibility == "NONE"),
        "{registered:?}"
    );
}

#[test]
fn a_failed_lookup_is_waited_out_unless_the_record_is_at_fault() {
    use schema_registry_converter::error::SRCError;
    let status = |code: &str, cause: &str| {
        SRCError::new(
            &format!("HTTP request to schema registry failed with status {code}"),
            Some(cause.to_owned()),
            false,
        )
    };
    let no_schema = status(
        "404 Not Found",
        "error_code: 40403, message: Schema 7 not found",
    );
    let wrong_url = status("404 Not Found", "couldn't parse schema registry error json");
    let waited = [
        wrong_url,
        status("401 Unauthorized", "error_code: 401, message: Unauthorized"),
        status("403 Forbidden", ""),
        status("429 Too Many Requests", ""),
        status("500 Internal Server Error", "error_code: 50003"),
        SRCError::new("error sending request", None, true),
    ];
    for error in &waited {
        let decoded = super::decode_error(7, error);
        assert!(
            matches!(decoded, CodecError::Registry(_)),
            "{error}: {decoded}"
        );
    }
    // The registry has no such schema, or one we cannot read with: the
    // record's fault, dead-lettered rather than retried for ever.
    let at_fault = [
        no_schema,
        SRCError::new("type Json, is not correct", None, false),
        SRCError::new("Could not parse schema", Some("bad json".into()), false),
    ];
    for error in &at_fault {
        let decoded = super::decode_error(7, error);
        assert!(
            matches!(decoded, CodecError::UnknownSchema(_)),
            "{error}: {decoded}"
        );
        assert!(decoded.to_string().contains("schema id 7"), "{decoded}");
    }
}
