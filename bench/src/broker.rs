//! The broker's own limits, measured in the same run as the pipeline and
//! with the pipeline's client settings ([`KafkaSettings::producer`] and
//! [`KafkaSettings::consumer`], pass-through options included): raw produce
//! and consume rates of records the size of ours, and one hop.

use anyhow::Context as _;
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use rdkafka::{
    Message as _, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer as _, DefaultConsumerContext},
    producer::FutureRecord,
};
use rfq_core::kafka::KafkaSettings;
use std::time::{Duration, Instant};

/// Bytes per record: an encoded `RfqRequest` addressed to four unicorns
/// (Confluent framing) is about this size.
pub const RECORD_BYTES: usize = 300;
/// Partitions of the scratch topic (the requests topic's default).
const PARTITIONS: i32 = 4;
/// One-hop samples, one every [`HOP_GAP`].
const HOPS: usize = 200;
const HOP_GAP: Duration = Duration::from_millis(10);

/// What the broker did on its own.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrokerLimits {
    /// Bytes per record.
    pub record_bytes: usize,
    /// Records produced (and consumed).
    pub records: usize,
    /// Records per second, produced with the pipeline's producer settings
    /// (all acknowledged).
    pub produce_per_second: f64,
    /// Records per second read back by a consumer with the pipeline's
    /// consumer settings.
    pub consume_per_second: f64,
    /// One hop, produce → a subscribed consumer has it: median, ms.
    pub hop_p50_ms: f64,
    /// One hop, 99th percentile, ms.
    pub hop_p99_ms: f64,
    /// One hop, worst, ms.
    pub hop_max_ms: f64,
    /// One hop with a producer that does not linger (`linger.ms=0`): the
    /// broker's own part of a hop, median, ms.
    pub bare_hop_p50_ms: f64,
    /// The same, 99th percentile, ms.
    pub bare_hop_p99_ms: f64,
}

/// Measures the broker at `kafka` with `records` records.
pub async fn limits(kafka: &KafkaSettings, records: usize) -> anyhow::Result<BrokerLimits> {
    let topic = format!(
        "rfq.bench.{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let admin: AdminClient<DefaultClientContext> =
        kafka.client_config("rfq-bench-admin", &[]).create()?;
    // Not deleted afterwards: librdkafka 2.x crashes (a null topic name in
    // its metadata cache) when the embedded broker answers for a deleted
    // topic. Its records expire instead.
    let scratch =
        NewTopic::new(&topic, PARTITIONS, TopicReplication::Fixed(1)).set("retention.ms", "600000");
    let created = admin
        .create_topics(&[scratch], &AdminOptions::new())
        .await?;
    for result in created {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    measure(kafka, &topic, records).await
}

async fn measure(
    kafka: &KafkaSettings,
    topic: &str,
    records: usize,
) -> anyhow::Result<BrokerLimits> {
    let producer = kafka.producer("rfq-bench")?;
    let payload = vec![b'x'; RECORD_BYTES];
    // Produce: everything in flight at once, as the pipeline's producers do.
    let started = Instant::now();
    let mut acked = futures::stream::iter(0..records)
        .map(|i| {
            let producer = &producer;
            let payload = &payload;
            async move {
                let key = i.to_string();
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(payload),
                        Duration::from_secs(60),
                    )
                    .await
                    .map_err(|(error, _)| error)
            }
        })
        .buffer_unordered(10_000);
    while let Some(result) = acked.next().await {
        result.context("producing to the broker")?;
    }
    let produce_seconds = started.elapsed().as_secs_f64();

    // Consume them back from the start.
    let consume_per_second = consume(kafka, topic, records as u64).await?;

    let hops = one_hop(kafka, topic, &producer, &payload).await?;
    let ms = |q: f64| hops.value_at_quantile(q) as f64 / 1000.0;
    let mut bare = kafka.clone();
    bare.options.push(("linger.ms".into(), "0".into()));
    let bare = one_hop(kafka, topic, &bare.producer("rfq-bench-bare")?, &payload).await?;
    let bare_ms = |q: f64| bare.value_at_quantile(q) as f64 / 1000.0;
    Ok(BrokerLimits {
        record_bytes: RECORD_BYTES,
        records,
        produce_per_second: records as f64 / produce_seconds,
        consume_per_second,
        hop_p50_ms: ms(0.5),
        hop_p99_ms: ms(0.99),
        hop_max_ms: hops.max() as f64 / 1000.0,
        bare_hop_p50_ms: bare_ms(0.5),
        bare_hop_p99_ms: bare_ms(0.99),
    })
}

/// A plain consumer with the pipeline's consumer settings (a group of its
/// own) reads `topic` from the start until it has `records`: records per
/// second, from the first one read (joining the group and finding the
/// partitions left out).
pub async fn consume(kafka: &KafkaSettings, topic: &str, records: u64) -> anyhow::Result<f64> {
    let group = format!("rfq-bench-{}", uuid::Uuid::new_v4().simple());
    let consumer = kafka.consumer("rfq-bench", &group, DefaultConsumerContext)?;
    consumer.subscribe(&[topic])?;
    let mut read = 0;
    let mut first = None;
    while read < records {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .with_context(|| format!("consuming {topic}: nothing for 30 s after {read}"))??;
        first.get_or_insert_with(Instant::now);
        drop(message);
        read += 1;
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(records as f64 / seconds.max(f64::EPSILON))
}

/// Records in `topic` now (the sum over its partitions of high less low
/// watermark, as the broker gives them).
pub async fn records_in(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<u64> {
    let consumer: rdkafka::consumer::BaseConsumer =
        kafka.client_config("rfq-bench-watermarks", &[]).create()?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(30);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
        let mut records = 0;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) = consumer.fetch_watermarks(&topic, partition.id(), timeout)?;
            records += u64::try_from(high - low).unwrap_or(0);
        }
        anyhow::Ok(records)
    })
    .await?
}

/// One record at a time to a consumer that already has the partitions
/// (assigned, at their end): how long until it has each.
async fn one_hop(
    kafka: &KafkaSettings,
    topic: &str,
    producer: &rfq_core::kafka::Producer,
    payload: &[u8],
) -> anyhow::Result<Histogram<u64>> {
    let group = format!("rfq-bench-hop-{}", uuid::Uuid::new_v4().simple());
    let consumer = kafka.consumer("rfq-bench-hop", &group, DefaultConsumerContext)?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    // Let the consumer resolve its positions before the clock starts.
    let _ = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await;
    let base = Instant::now();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..HOPS {
        let sent = base.elapsed().as_micros().to_string();
        let key = format!("hop-{i}");
        let mut body = payload.to_vec();
        body.truncate(payload.len().saturating_sub(sent.len()));
        body.extend_from_slice(sent.as_bytes());
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&body),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| error)
            .context("producing a hop")?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .context("a hop: timed out")??;
            if message.key() == Some(key.as_bytes()) {
                let received = base.elapsed().as_micros();
                let sent: u128 = sent.parse()?;
                histogram.record(u64::try_from(received - sent)?.max(1))?;
                break;
            }
        }
        tokio::time::sleep(HOP_GAP).await;
    }
    Ok(histogram)
}
