//! Nothing a client sends can wedge a partition of the embedded broker:
//! every compression (none, gzip, snappy, lz4, zstd) and every odd batch
//! (empty, control, transactional outside a transaction, corrupt, 1 MB)
//! written raw to every partition of every topic, then every RFQ still
//! closes on time, and each batch the broker acknowledged is read back.

use crate::helpers::*;
use bytes::{Bytes, BytesMut};
use kafka_protocol::{
    messages::{
        ApiKey, ProduceRequest, ProduceResponse, RequestHeader, TopicName,
        produce_request::{PartitionProduceData, TopicProduceData},
    },
    protocol::{Decodable as _, Encodable as _, StrBytes},
    records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType},
};
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
};
use std::{collections::HashMap, time::Duration};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A batch sent, and whether the broker must take it.
struct Odd {
    name: &'static str,
    batch: Bytes,
    /// How many records it holds, if the broker must take it.
    taken: Option<usize>,
}

fn record(key: String, value: Vec<u8>, transactional: bool, control: bool) -> Record {
    Record {
        transactional,
        control,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: if transactional { 4242 } else { -1 },
        producer_epoch: if transactional { 0 } else { -1 },
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: if transactional { 0 } else { -1 },
        timestamp: chrono::Utc::now().timestamp_millis(),
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    }
}

/// One batch of `records`, numbered 0, 1, … as a producer numbers them.
fn encode(records: &[Record], compression: Compression) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            offset: i as i64,
            sequence: record.sequence + i as i32,
            ..record.clone()
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    out.freeze()
}

/// Every batch the test writes to each partition.
fn odd_batches() -> Vec<Odd> {
    let junk = |name: &str| {
        record(
            format!("odd-{name}"),
            format!("not a record of ours: {name}").into_bytes(),
            false,
            false,
        )
    };
    let mut batches: Vec<Odd> = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ]
    .into_iter()
    .map(|(name, compression)| Odd {
        name,
        batch: encode(&[junk(name), junk(name)], compression),
        taken: Some(2),
    })
    .collect();
    let big = record("odd-1mb".into(), vec![b'x'; 1024 * 1024], false, false);
    batches.push(Odd {
        name: "1 MB",
        batch: encode(&[big], Compression::None),
        taken: Some(1),
    });
    let big = record(
        "odd-1mb-snappy".into(),
        vec![b'y'; 1024 * 1024],
        false,
        false,
    );
    batches.push(Odd {
        name: "1 MB snappy",
        batch: encode(&[big], Compression::Snappy),
        taken: Some(1),
    });
    // Empty: a batch header that says no records.
    let mut empty = BytesMut::from(&encode(&[junk("empty")], Compression::None)[..]);
    empty[57..61].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&empty[21..]);
    empty[17..21].copy_from_slice(&crc.to_be_bytes());
    batches.push(Odd {
        name: "empty",
        batch: empty.freeze(),
        taken: None,
    });
    // A commit marker: key version 0, type 0 (abort) / 1 (commit).
    let marker = Record {
        key: Some(Bytes::from_static(&[0, 0, 0, 1])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ..record(String::new(), Vec::new(), true, true)
    };
    batches.push(Odd {
        name: "control",
        batch: encode(&[marker], Compression::None),
        taken: None,
    });
    let open = record("odd-txn".into(), b"in no transaction".to_vec(), true, false);
    batches.push(Odd {
        name: "transactional",
        batch: encode(&[open], Compression::None),
        taken: None,
    });
    let mut corrupt = BytesMut::from(&encode(&[junk("corrupt")], Compression::Gzip)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    batches.push(Odd {
        name: "corrupt",
        batch: corrupt.freeze(),
        taken: None,
    });
    batches
}

/// Sends one produce request (v8, acks=all) of `batch` to `partition` of
/// `topic` and returns the partition's error code.
async fn produce_raw(
    stream: &mut tokio::net::TcpStream,
    topic: &str,
    partition: i32,
    batch: &Bytes,
    id: i32,
) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.clone())),
                ]),
        ]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(8)
        .with_correlation_id(id)
        .with_client_id(Some(StrBytes::from_static_str("odd-batches")));
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, ApiKey::Produce.request_header_version(8))
        .unwrap();
    request.encode(&mut frame, 8).unwrap();
    stream
        .write_all(&(frame.len() as u32).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&frame).await.unwrap();
    let size = stream.read_u32().await.unwrap();
    let mut reply = vec![0u8; size as usize];
    stream.read_exact(&mut reply).await.unwrap();
    let mut reply = Bytes::from(reply);
    assert_eq!(reply.split_to(4)[..], id.to_be_bytes(), "correlation id");
    let response = ProduceResponse::decode(&mut reply, 8).unwrap();
    response.responses[0].partition_responses[0].error_code
}

#[test]
fn odd_batches_on_every_partition_wedge_nothing_on_embedded() {
    run_pipeline_test(odd_batches_wedge_nothing(TestBroker::Embedded));
}

async fn odd_batches_wedge_nothing(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        &broker,
        dir.path(),
        vec![adapter("alpha", fleet(BERLIN, 2, 0, 0.0))],
        true,
    );
    let schemas_topic = settings.registry.schemas_topic.clone();
    let t = TestPipeline::start_with(settings).await;
    let brokers = t.brokers();
    let topics = [
        t.topics.requests_topic.clone(),
        t.topics.quotes_topic.clone(),
        t.topics.providers_topic.clone(),
        t.topics.dead_letter_topic.clone(),
        t.topics.events_topic.clone(),
        schemas_topic,
    ];
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "odd-batches-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = reader
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(&brokers).await.unwrap();
    let batches = odd_batches();
    let mut id = 0;
    let mut written: HashMap<(String, i32), usize> = HashMap::new();
    for topic in &topics {
        let partitions = metadata
            .topics()
            .iter()
            .find(|m| m.name() == topic)
            .unwrap()
            .partitions()
            .len();
        assert!(partitions > 0, "{topic} has partitions");
        for partition in 0..partitions as i32 {
            for odd in &batches {
                id += 1;
                let code = produce_raw(&mut stream, topic, partition, &odd.batch, id).await;
                match odd.taken {
                    Some(records) => {
                        assert_eq!(code, 0, "{} to {topic}[{partition}] acknowledged", odd.name);
                        *written.entry((topic.clone(), partition)).or_default() += records;
                    }
                    None => assert_ne!(code, 0, "{} to {topic}[{partition}] refused", odd.name),
                }
            }
        }
    }

    // Every RFQ still closes on time (its deadline, plus the time to see it).
    let deadline = 5;
    let mut locations = Vec::new();
    for _ in 0..16 {
        locations.push(t.submit(BERLIN, deadline).await.0);
    }
    for location in &locations {
        t.poll_until_closed(location, Duration::from_secs(u64::from(deadline) + 5))
            .await;
    }

    // Every acknowledged odd batch is served back, in every partition.
    for ((topic, partition), count) in &written {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .unwrap();
        reader.assign(&assignment).unwrap();
        let mut seen = 0;
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        while seen < *count {
            assert!(
                std::time::Instant::now() < give_up,
                "{topic}[{partition}]: {seen} odd records read back"
            );
            if let Some(message) = reader.poll(Duration::from_millis(500)) {
                let message =
                    message.unwrap_or_else(|error| panic!("reading {topic}[{partition}]: {error}"));
                if message.key().is_some_and(|key| key.starts_with(b"odd-")) {
                    seen += 1;
                }
            }
        }
    }
    t.stop().await;
}
