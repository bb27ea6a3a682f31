//! Criterion benches of the pieces every RFQ passes through, apart from
//! the broker and the network: the codec (Confluent wire format against
//! our registry, served over HTTP in-process and warmed, as in the
//! pipeline; the single-object encoding next to it), the aggregator's
//! window (the I/O-free closing rules) and the parsing of a `POST /rfqs`
//! body.
//!
//! `cargo bench -p rfq-bench --bench components` runs them (add a name,
//! e.g. `-- window`, to run a group); `rfq bench` measures the pipeline
//! as a whole. Figures from this machine are in `docs/performance.md`
//! (the criterion table).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use chrono::{DateTime, Duration, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rfq_avro::{Codec, ConfluentCodec, Record, SingleObjectCodec};
use rfq_core::{Answer, CorrelationId, Currency, Price, ProviderId, Reply, Rfq};
use rfq_core::{kafka::TopicSettings, pipeline::SchemaRegistrySettings};
use rfq_rules::Window;
use std::hint::black_box;

/// The providers an RFQ of the benches is addressed to.
const PROVIDERS: [&str; 5] = ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"];

/// Partitions of the quotes topic the window's RFQs are spread over.
const PARTITIONS: i32 = 8;

/// `at` to the millisecond, as the wire and the store keep times.
fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// An RFQ to `PROVIDERS`, returned to `partition`, due at `deadline`.
fn rfq(partition: i32, deadline: DateTime<Utc>) -> Rfq {
    let mut rfq = Rfq::sample(&PROVIDERS);
    rfq.return_address.partition = partition;
    rfq.deadline = millis(deadline);
    rfq
}

/// `provider`'s quote for `rfq`.
fn quote(rfq: CorrelationId, provider: &str) -> Answer {
    Answer {
        rfq,
        provider: ProviderId::parse(provider).unwrap_or_else(|e| panic!("{provider}: {e}")),
        responded_at: millis(Utc::now()),
        reply: Reply::Quoted {
            price: Price::new(1230, Currency::parse("EUR").expect("EUR")).expect("a valid price"),
            pickup_eta_seconds: 240,
        },
    }
}

/// A window holding `open` RFQs, deadlines 1 ms apart from `from` on.
fn window_with(open: usize, from: DateTime<Utc>) -> Window {
    let mut window = Window::default();
    for i in 0..open {
        let deadline = from + Duration::milliseconds(i as i64);
        window.open(&rfq(i as i32 % PARTITIONS, deadline));
    }
    window
}

fn window(c: &mut Criterion) {
    let mut group = c.benchmark_group("window");
    let far = Utc::now() + Duration::days(1);
    // One RFQ's whole life among 100,000 open ones: opened, answered by
    // its five providers, closed by the last answer (rule `all`).
    let mut held = window_with(100_000, far);
    let now = Utc::now();
    group.throughput(Throughput::Elements(1));
    group.bench_function("open, 5 answers, close (100k open)", |b| {
        b.iter_batched(
            || {
                let rfq = rfq(3, far);
                let answers: Vec<Answer> = PROVIDERS.iter().map(|p| quote(rfq.id, p)).collect();
                (rfq, answers)
            },
            |(rfq, answers)| {
                black_box(held.open(&rfq));
                for answer in answers {
                    black_box(held.respond(answer, 3, now));
                }
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(held.len(), 100_000, "every benched RFQ closed");
    // A deadline marker that closes 1,000 RFQs of its partition, out of
    // 100,000 open.
    group.throughput(Throughput::Elements(1_000));
    let start = Utc::now();
    group.bench_function("deadline marker closing 1,000 (100k open)", |b| {
        b.iter_batched(
            || window_with(100_000, start),
            |mut window| {
                // Partition 0 holds every 8th RFQ: 8,000 ms cover 1,000 of them.
                let closed = window.tick(0, start + Duration::milliseconds(7_999));
                assert_eq!(closed.len(), 1_000);
                window
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let registry = runtime
        .block_on(rfq_bench::registry::InMemoryRegistry::serve())
        .expect("a registry in memory");
    let confluent = ConfluentCodec::new(
        &SchemaRegistrySettings {
            registry_url: Some(registry.url.clone()),
            ..Default::default()
        },
        &TopicSettings::default(),
    )
    .expect("codec settings");
    let single = SingleObjectCodec::new();
    let rfq = Record::Rfq(rfq(0, Utc::now()));
    let answer = Record::Answer(quote(CorrelationId::new_random(), "alpha-1"));
    let codecs: [(&str, &dyn Codec); 2] = [("confluent", &confluent), ("single-object", &single)];
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    for (name, codec) in codecs {
        for (kind, record) in [("RfqRequest", &rfq), ("QuoteResponse", &answer)] {
            // Warm: registers the schema and caches its id, as the
            // pipeline's components do at start.
            let bytes = runtime
                .block_on(codec.encode("rfq.quotes", record))
                .expect("encodes");
            assert_eq!(
                &runtime
                    .block_on(codec.decode("rfq.quotes", &bytes))
                    .expect("decodes"),
                record
            );
            group.bench_function(format!("{name}: encode {kind}"), |b| {
                b.to_async(&runtime)
                    .iter(|| async { black_box(codec.encode("rfq.quotes", record).await) })
            });
            group.bench_function(format!("{name}: decode {kind}"), |b| {
                b.to_async(&runtime)
                    .iter(|| async { black_box(codec.decode("rfq.quotes", &bytes).await) })
            });
        }
    }
    group.finish();
}

fn request(c: &mut Criterion) {
    let limits = rfq_producer::Limits {
        default_deadline_seconds: 300,
        max_deadline_seconds: 3600,
    };
    let body = br#"{"from":{"lat":52.52,"lon":13.405},"to":{"lat":52.5,"lon":13.45},"customer":"customer-42","deadline-seconds":30,"completion":{"rule":"quality","max-price":"20.00","currency":"EUR"}}"#;
    let bad = br#"{"from":{"lat":152.52,"lon":13.405},"to":{"lat":52.5,"lon":13.45},"customer":"customer-42"}"#;
    // The customer its API key names.
    let customer = rfq_core::CustomerId::parse("customer-42").expect("a valid id");
    assert!(rfq_producer::parse(body, limits, &customer).is_ok());
    assert!(rfq_producer::parse(bad, limits, &customer).is_err());
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse POST /rfqs body", |b| {
        b.iter(|| black_box(rfq_producer::parse(black_box(body), limits, &customer)))
    });
    group.bench_function("refuse an out-of-range body", |b| {
        b.iter(|| black_box(rfq_producer::parse(black_box(bad), limits, &customer)))
    });
    group.finish();
}

criterion_group!(benches, window, codec, request);
criterion_main!(benches);
