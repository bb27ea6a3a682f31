//! The reference: what a single crash-free run stores, recomputed from the
//! quotes topic itself (read back with a `read_committed` consumer), and
//! its comparison with what the read API serves.
//!
//! The model is written apart from the aggregator's `Window` on purpose; it
//! shares only the completion rule (`Completion::closes`, unit-tested on
//! its own). Rules: per partition, in log order; an answer counts if its
//! RFQ is open, its provider addressed and silent so far, and its record
//! timestamp is before the deadline; a deadline marker closes the
//! partition's RFQs due at its instant; anything for a closed RFQ from an
//! addressed provider not yet heard is late.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use futures::StreamExt as _;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use rfq_avro::Record;
use rfq_core::{CloseReason, Completion, CorrelationId, Progress, ProviderId, Reply};
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

/// One RFQ as the model sees it.
#[derive(Debug, Clone)]
pub struct Expected {
    partition: i32,
    deadline: DateTime<Utc>,
    addressed: BTreeSet<ProviderId>,
    completion: Completion,
    answered: BTreeMap<ProviderId, Reply>,
    late: BTreeMap<ProviderId, Reply>,
    quotes: usize,
    /// Why and when it closed (None: still open at the end of the log).
    pub closed: Option<(CloseReason, DateTime<Utc>)>,
}

/// The quotes topic, replayed.
#[derive(Debug, Default)]
pub struct Model {
    /// Every RFQ seen.
    pub rfqs: HashMap<CorrelationId, Expected>,
    /// Answers counted in time.
    pub accepted: usize,
    /// Late answers kept.
    pub late: usize,
    /// Duplicates dropped.
    pub duplicates: usize,
    /// Answers refused (unknown RFQ, stranger, wrong partition).
    pub refused: usize,
    /// Deadline markers read.
    pub ticks: usize,
    /// Records of the topic.
    pub records: usize,
}

impl Model {
    fn apply(&mut self, partition: i32, stamp: DateTime<Utc>, record: Record) {
        self.records += 1;
        match record {
            Record::Rfq(rfq) => {
                self.rfqs.entry(rfq.id).or_insert_with(|| Expected {
                    partition,
                    deadline: rfq.deadline,
                    addressed: rfq.addressed.clone(),
                    completion: rfq.completion.clone(),
                    answered: BTreeMap::new(),
                    late: BTreeMap::new(),
                    quotes: 0,
                    closed: None,
                });
            }
            Record::Answer(response) => {
                let Some(rfq) = self
                    .rfqs
                    .get_mut(&response.rfq)
                    .filter(|rfq| rfq.partition == partition)
                else {
                    self.refused += 1;
                    return;
                };
                let provider = response.provider;
                if !rfq.addressed.contains(&provider) {
                    self.refused += 1;
                } else if rfq.answered.contains_key(&provider) || rfq.late.contains_key(&provider) {
                    self.duplicates += 1;
                } else if rfq.closed.is_some() || stamp >= rfq.deadline {
                    self.late += 1;
                    rfq.late.insert(provider, response.reply);
                } else {
                    self.accepted += 1;
                    if matches!(response.reply, Reply::Quoted { .. }) {
                        rfq.quotes += 1;
                    }
                    let progress = Progress {
                        addressed: rfq.addressed.len(),
                        answered: rfq.answered.len() + 1,
                        quotes: rfq.quotes,
                    };
                    if let Some(reason) = rfq.completion.closes(progress, &response.reply) {
                        rfq.closed = Some((reason, stamp));
                    }
                    rfq.answered.insert(provider, response.reply);
                }
            }
            Record::Tick(tick) => {
                self.ticks += 1;
                for rfq in self.rfqs.values_mut() {
                    if rfq.partition == partition && rfq.closed.is_none() && rfq.deadline <= tick.at
                    {
                        rfq.closed = Some((CloseReason::Deadline, rfq.deadline));
                    }
                }
            }
            Record::Heartbeat(_) | Record::PartnerRfq(_) => self.refused += 1,
        }
    }

    /// Reads the whole quotes topic (up to its current end) with a
    /// `read_committed` consumer and replays it.
    pub async fn from_topic(brokers: &str, registry: &str, topic: &str) -> Model {
        let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
        let records = tokio::task::spawn_blocking(move || read_all(&brokers, &topic))
            .await
            .unwrap();
        let codec = crate::helpers::codec_for(registry, &Default::default());
        let mut model = Model::default();
        for (partition, stamp, payload) in records {
            // Undecodable records are the dead-letter test's business.
            if let Ok(record) = codec.decode("rfq.quotes", &payload).await {
                model.apply(partition, stamp, record);
            } else {
                model.refused += 1;
            }
        }
        model
    }
}

/// A record read back: partition, timestamp, payload.
type Stamped = (i32, DateTime<Utc>, Vec<u8>);

/// Every record of `topic`, partition by partition in log order.
fn read_all(brokers: &str, topic: &str) -> Vec<Stamped> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("model-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *partition, Duration::from_secs(10))
            .unwrap();
        if high > low {
            ends.insert(*partition, high);
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let mut by_partition: BTreeMap<i32, Vec<Stamped>> = BTreeMap::new();
    let mut done: BTreeSet<i32> = BTreeSet::new();
    let give_up = std::time::Instant::now() + Duration::from_secs(300);
    while done.len() < ends.len() {
        assert!(
            std::time::Instant::now() < give_up,
            "reading {topic} back timed out"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.unwrap();
        let partition = message.partition();
        if message.offset() < ends[&partition] {
            let stamp = message
                .timestamp()
                .to_millis()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .unwrap();
            by_partition.entry(partition).or_default().push((
                partition,
                stamp,
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
        if message.offset() + 1 >= ends[&partition] {
            done.insert(partition);
        }
    }
    by_partition.into_values().flatten().collect()
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Differences {
    /// RFQs compared.
    pub rfqs: usize,
    /// Answers the model counts and the API does not show (lost).
    pub lost: usize,
    /// Answers shown more than once, or shown and not in the model.
    pub duplicated: usize,
    /// RFQs whose close (rule or instant) differs.
    pub wrong_close: usize,
    /// Late answers that differ.
    pub wrong_late: usize,
    /// RFQs still open (in the model or the API).
    pub open: usize,
    /// Accepted RFQs missing from the topic or the API.
    pub missing: usize,
    /// A few examples, for the failure message.
    pub examples: Vec<String>,
}

impl Differences {
    /// Whether the API serves exactly what the model expects.
    pub fn none(&self) -> bool {
        self.lost + self.duplicated + self.wrong_close + self.wrong_late + self.open + self.missing
            == 0
    }

    fn note(&mut self, example: String) {
        if self.examples.len() < 10 {
            self.examples.push(example);
        }
    }
}

fn shown(reply: &Reply) -> String {
    match reply {
        Reply::Quoted { price, .. } => price.to_string(),
        Reply::Declined { .. } => "declined".into(),
    }
}

fn entries(result: &Value, list: &str) -> Vec<(String, String)> {
    result[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let provider = item["provider"].as_str().unwrap_or_default().to_owned();
                    let what = match item["price"].as_str() {
                        Some(price) => {
                            format!("{price} {}", item["currency"].as_str().unwrap_or(""))
                        }
                        None => "declined".into(),
                    };
                    (provider, what)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Compares every RFQ of the model (and every accepted id) with the API's result.
pub async fn compare(
    model: &Model,
    accepted: &[CorrelationId],
    client: &reqwest::Client,
    api: &str,
) -> Differences {
    let mut differences = Differences::default();
    for id in accepted {
        if !model.rfqs.contains_key(id) {
            differences.missing += 1;
            differences.note(format!("{id}: accepted but not on the quotes topic"));
        }
    }
    let fetched: Vec<(CorrelationId, Option<Value>)> =
        futures::stream::iter(model.rfqs.keys().copied())
            .map(|id| async move {
                let response = client
                    .get(format!("{api}/rfqs/{id}/result"))
                    .send()
                    .await
                    .unwrap();
                let body = (response.status() == 200).then_some(response.json().await.unwrap());
                (id, body)
            })
            .buffer_unordered(16)
            .collect()
            .await;
    for (id, result) in fetched {
        differences.rfqs += 1;
        let expected = &model.rfqs[&id];
        let (Some(result), Some((reason, closed_at))) = (result, expected.closed) else {
            differences.open += 1;
            differences.note(format!("{id}: not closed (model: {:?})", expected.closed));
            continue;
        };
        let at = closed_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        if result["closed-by"] != reason.as_str() || result["closed-at"] != at.as_str() {
            differences.wrong_close += 1;
            differences.note(format!(
                "{id}: closed {} at {}, model {} at {at}",
                result["closed-by"],
                result["closed-at"],
                reason.as_str()
            ));
        }
        let mut served: Vec<(String, String)> = entries(&result, "quotes");
        served.extend(entries(&result, "declines"));
        let served_set: BTreeSet<_> = served.iter().cloned().collect();
        let model_set: BTreeSet<(String, String)> = expected
            .answered
            .iter()
            .map(|(p, o)| (p.as_str().to_owned(), shown(o)))
            .collect();
        let lost = model_set.difference(&served_set).count();
        let extra = served_set.difference(&model_set).count() + (served.len() - served_set.len());
        if lost + extra > 0 {
            differences.note(format!("{id}: served {served:?}, model {model_set:?}"));
        }
        differences.lost += lost;
        differences.duplicated += extra;
        let late: BTreeSet<_> = entries(&result, "late").into_iter().collect();
        let model_late: BTreeSet<(String, String)> = expected
            .late
            .iter()
            .map(|(p, o)| (p.as_str().to_owned(), shown(o)))
            .collect();
        if late != model_late {
            differences.wrong_late += 1;
            differences.note(format!("{id}: late {late:?}, model {model_late:?}"));
        }
    }
    differences
}
