//! A partner provider in Rust, as `docs/partners.md` describes one, through
//! its door (`rfq.door.NAME.…`): it registers one unicorn with heartbeats
//! on the door's heartbeats topic, reads the door's RFQs, and quotes the
//! ones addressed to it to their `answer_to` topic. rdkafka for Kafka,
//! `schema_registry_converter` for Confluent's wire format against the
//! registry; the schemas are `avro/schemas/*.avsc`.
//!
//! Against `rfq up --door acme` (its broker and registry on their default
//! addresses):
//!
//! ```text
//! cargo run -p rfq-partner-examples --example partner -- \
//!     --partner-name acme --provider acme-rs-1 --lat 53.55 --lon 9.99 --price-minor 1700
//! ```
//!
//! Ctrl-C sends an `OFFLINE` heartbeat and stops.

use apache_avro::types::Value;
use clap::Parser;
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};
use schema_registry_converter::{
    async_impl::{
        avro::{AvroDecoder, AvroEncoder},
        schema_registry::SrSettings,
    },
    schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema},
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The partner's settings.
#[derive(Parser)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Schema registry URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    registry: String,
    /// Your partner name: your door is `rfq.door.NAME.`.
    #[arg(long)]
    partner_name: String,
    /// The unicorn's provider id, in your namespace (`NAME-…`).
    #[arg(long)]
    provider: String,
    /// Where the unicorn is.
    #[arg(long, allow_negative_numbers = true)]
    lat: f64,
    /// Where the unicorn is.
    #[arg(long, allow_negative_numbers = true)]
    lon: f64,
    /// Geohash characters per region: the pipeline's `--region-precision`.
    #[arg(long, default_value_t = 5)]
    precision: usize,
    /// The price quoted, in minor units.
    #[arg(long, default_value_t = 1500)]
    price_minor: i64,
    /// ISO 4217 currency of the price.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Your Kafka password from `rfq partners add` (the user is your
    /// partner name; SASL/SCRAM-SHA-256).
    #[arg(long, env = "RFQ_PARTNER_KAFKA_PASSWORD")]
    kafka_password: Option<String>,
    /// Your schema registry password from `rfq partners add` (HTTP Basic).
    #[arg(long, env = "RFQ_PARTNER_REGISTRY_PASSWORD")]
    registry_password: Option<String>,
}

/// Kafka settings as the partner: who we are, when a password is given.
fn kafka_config(args: &Args) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &args.brokers);
    if let Some(password) = &args.kafka_password {
        config
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "SCRAM-SHA-256")
            .set("sasl.username", &args.partner_name)
            .set("sasl.password", password);
    }
    config
}

const HEARTBEAT: &str = include_str!("../avro/schemas/provider_heartbeat.avsc");
const QUOTE: &str = include_str!("../avro/schemas/quote_response.avsc");
/// Renew well within `VALID_FOR_MS`.
const RENEW: Duration = Duration::from_secs(10);
const VALID_FOR_MS: i64 = 30_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Our workspace compiles two rustls providers in; a partner's own
    // project with only `rustls_tls` needs no such line.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = match &args.registry_password {
        Some(password) => SrSettings::new_builder(args.registry.clone())
            .set_basic_authorization(&args.partner_name, Some(password))
            .build()?,
        None => SrSettings::new(args.registry.clone()),
    };
    let encoder = AvroEncoder::new(registry.clone());
    let decoder = AvroDecoder::new(registry);
    let producer: FutureProducer = kafka_config(&args).create()?;
    let consumer: StreamConsumer = kafka_config(&args)
        // A group under the door's prefix (the partner's ACLs are on it).
        .set("group.id", format!("{}{}", door(&args), args.provider))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&format!("{}rfqs", door(&args))])?;
    let mut renew = tokio::time::interval(RENEW);
    // Kafka and the registry may be away for a while (a broker restart):
    // say so and carry on; nothing here is worth stopping for.
    loop {
        tokio::select! {
            _ = renew.tick() => {
                if let Err(error) = heartbeat(&args, &encoder, &producer, "ONLINE").await {
                    eprintln!("heartbeat not sent: {error:#}");
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            message = consumer.recv() => {
                let payload = match &message {
                    Ok(message) => message.payload().unwrap_or_default(),
                    Err(error) => {
                        eprintln!("kafka: {error}");
                        continue;
                    }
                };
                let answered = match decoder.decode(Some(payload)).await {
                    Ok(rfq) => quote(&args, &rfq.value, &encoder, &producer).await,
                    Err(error) => Err(error.into()),
                };
                if let Err(error) = answered {
                    eprintln!("RFQ not answered: {error:#}");
                }
            }
        }
    }
    heartbeat(&args, &encoder, &producer, "OFFLINE").await
}

/// Registers (or unregisters) the unicorn: a `ProviderHeartbeat` keyed by
/// its id, its region the geohash of its position.
async fn heartbeat(
    args: &Args,
    encoder: &AvroEncoder,
    producer: &FutureProducer,
    status: &str,
) -> anyhow::Result<()> {
    let position = Value::Record(vec![
        ("lat".into(), Value::Double(args.lat)),
        ("lon".into(), Value::Double(args.lon)),
    ]);
    let symbol = u32::from(status == "OFFLINE");
    let fields = vec![
        ("provider", Value::String(args.provider.clone())),
        ("adapter", Value::String("partner.rs".into())),
        (
            "region",
            Value::String(geohash(args.lat, args.lon, args.precision)),
        ),
        ("position", position),
        ("status", Value::Enum(symbol, status.into())),
        ("at", Value::TimestampMillis(now_ms())),
        ("valid_for_ms", Value::Long(VALID_FOR_MS)),
    ];
    let topic = format!("{}heartbeats", door(args));
    let value = encoder.encode(fields, strategy(&topic, HEARTBEAT)).await?;
    let record = FutureRecord::to(&topic).key(&args.provider).payload(&value);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| error)?;
    println!("heartbeat {status} {}", args.provider);
    Ok(())
}

/// Quotes an RFQ addressed to us before its deadline, to its `answer_to`
/// topic (the door's answers topic), keyed by its correlation id.
async fn quote(
    args: &Args,
    rfq: &Value,
    encoder: &AvroEncoder,
    producer: &FutureProducer,
) -> anyhow::Result<()> {
    let addressed = matches!(field(rfq, "providers"), Some(Value::Array(ids))
        if ids.contains(&Value::String(args.provider.clone())));
    let open = matches!(field(rfq, "deadline"), Some(Value::TimestampMillis(at)) if *at > now_ms());
    let (Some(Value::String(id)), Some(Value::String(topic))) =
        (field(rfq, "correlation_id"), field(rfq, "answer_to"))
    else {
        anyhow::bail!("not a PartnerRfq: {rfq:?}");
    };
    if !addressed || !open {
        return Ok(());
    }
    let outcome = Value::Record(vec![
        ("price_minor".into(), Value::Long(args.price_minor)),
        ("currency".into(), Value::String(args.currency.clone())),
        ("pickup_eta_seconds".into(), Value::Int(240)),
    ]);
    let fields = vec![
        ("correlation_id", Value::String(id.clone())),
        ("provider", Value::String(args.provider.clone())),
        ("responded_at", Value::TimestampMillis(now_ms())),
        ("outcome", Value::Union(0, Box::new(outcome))),
    ];
    let value = encoder.encode(fields, strategy(topic, QUOTE)).await?;
    let record = FutureRecord::to(topic).key(id).payload(&value);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| error)?;
    println!("quoted {id}");
    Ok(())
}

/// The partner's door: the prefix of its topics and groups.
fn door(args: &Args) -> String {
    format!("rfq.door.{}.", args.partner_name)
}

/// The topic's value subject (`<topic>-value`), with our schema.
fn strategy(topic: &str, schema: &str) -> SubjectNameStrategy {
    let schema = SuppliedSchema::new(None, SchemaType::Avro, schema.to_owned());
    SubjectNameStrategy::TopicNameStrategyWithSchema(topic.to_owned(), false, schema)
}

/// A record's field by name.
fn field<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    match record {
        Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The geohash of a position: `precision` characters, bits alternating
/// longitude and latitude.
fn geohash(lat: f64, lon: f64, precision: usize) -> String {
    const BASE32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (mut lat_range, mut lon_range) = ((-90.0, 90.0), (-180.0, 180.0));
    let mut hash = String::new();
    let (mut bits, mut index, mut even) = (0, 0usize, true);
    while hash.len() < precision {
        let (range, value) = if even {
            (&mut lon_range, lon)
        } else {
            (&mut lat_range, lat)
        };
        let mid = (range.0 + range.1) / 2.0;
        index <<= 1;
        if value >= mid {
            index |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            hash.push(char::from(BASE32[index]));
            (bits, index) = (0, 0);
        }
    }
    hash
}
