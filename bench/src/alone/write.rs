//! What the aggregator-alone bench feeds the aggregator: N RFQs, each with
//! its answers behind it in its quotes partition ([`QuotesWriter`]) and its
//! `Open` row in the store, as the producer and the adapters would have
//! left them. A `--bench-deadline-share` of them close at their deadline
//! (two thirds of their providers answer, the deadline a second after the
//! RFQ is written, passed before the aggregator starts); the rest close
//! on completion (every provider answers, the deadline an hour away).

use crate::{BenchSettings, check::Expected, quotes::QuotesWriter, schedule};
use anyhow::Context as _;
use chrono::{DateTime, SubsecRound as _, Utc};
use futures::StreamExt as _;
use rfq_core::{
    Answer, Completion, CorrelationId, Currency, CustomerId, Effect, GeoPoint, Price, ProviderId,
    Region, Reply, Rfq, pipeline::PipelineSettings,
};
use rfq_store::Store;
use std::{collections::BTreeSet, time::Instant};

/// RFQs being written at once.
const IN_FLIGHT: usize = 1_000;
/// How long after it is written an RFQ that closes at its deadline falls
/// due (its answers, written right behind it, are in time).
const DEADLINE_AFTER: chrono::Duration = chrono::Duration::seconds(1);
/// How long after it is written an RFQ that closes on completion falls
/// due (never, within the bench).
const COMPLETION_DEADLINE_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// Every this many answers one is a decline.
const DECLINE_EVERY: usize = 6;

/// What was written.
pub(super) struct Written {
    /// Each RFQ, and how it must close.
    pub(super) rfqs: Vec<(CorrelationId, Expected)>,
    /// Records written: RFQs and answers.
    pub(super) records: u64,
    /// Seconds the writing took (topic and store).
    pub(super) seconds: f64,
    /// The latest deadline of those that close at theirs.
    pub(super) last_deadline: Option<DateTime<Utc>>,
}

/// Writes `settings.aggregator` RFQs with their answers to `writer`'s topic
/// and opens each in `store`.
pub(super) async fn write(
    settings: &BenchSettings,
    pipeline: &PipelineSettings,
    writer: &QuotesWriter,
    store: &dyn Store,
) -> anyhow::Result<Written> {
    let providers: Vec<ProviderId> = (1..=settings.aggregator_answers.max(1))
        .map(|n| ProviderId::parse(&format!("bench-unicorn-{n:03}")))
        .collect::<Result<_, _>>()?;
    let addressed: BTreeSet<ProviderId> = providers.iter().cloned().collect();
    let customer = CustomerId::parse("bench-aggregator")?;
    let eur = Currency::parse("EUR")?;
    let deadline_every = schedule::every(settings.deadline_share);
    let progress = indicatif::ProgressBar::new(settings.aggregator);
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} RFQs written with their answers",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut sent = futures::stream::iter(0..settings.aggregator)
        .map(|i| {
            let to_deadline = schedule::picked(deadline_every, i as usize);
            let id = CorrelationId::new_random();
            let from = if to_deadline {
                settings.silent_at
            } else {
                settings.answered_at
            };
            // At millisecond precision, as the codec and the stores keep it.
            let now = Utc::now().trunc_subsecs(3);
            let rfq = Rfq {
                id,
                customer: customer.clone(),
                region: Region::of(&from, pipeline.region_precision),
                from,
                to: GeoPoint::new(from.lat() - 0.02, from.lon() + 0.05)
                    .unwrap_or(settings.answered_at),
                created_at: now,
                deadline: now
                    + if to_deadline {
                        DEADLINE_AFTER
                    } else {
                        COMPLETION_DEADLINE_AFTER
                    },
                addressed: addressed.clone(),
                radius: Some(pipeline.vicinity_radius),
                completion: Completion::All,
                return_address: writer.return_address(id),
            };
            // Two thirds answer one that closes at its deadline: it never
            // completes.
            let answering = if to_deadline {
                providers.len() * 2 / 3
            } else {
                providers.len()
            };
            let answers: Vec<Answer> = providers[..answering]
                .iter()
                .enumerate()
                .map(|(n, provider)| Answer {
                    rfq: id,
                    provider: provider.clone(),
                    responded_at: now,
                    reply: match Price::new(1_500 + 10 * n as i64, eur.clone()) {
                        Ok(price) if n % DECLINE_EVERY != DECLINE_EVERY - 1 => Reply::Quoted {
                            price,
                            pickup_eta_seconds: 120 + n as u32,
                        },
                        _ => Reply::Declined {
                            reason: "no unicorn free".to_owned(),
                        },
                    },
                })
                .collect();
            async move {
                // As the producer: its copy in the topic, then the store.
                writer.write(&rfq, &answers).await?;
                store
                    .apply(&[Effect::Open(rfq.clone())])
                    .await
                    .context("opening an RFQ in the store")?;
                let expected = if to_deadline {
                    Expected::Deadline(Some(rfq.deadline))
                } else {
                    Expected::Completion
                };
                anyhow::Ok((id, expected, 1 + answers.len() as u64))
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut written = Written {
        rfqs: Vec::with_capacity(settings.aggregator as usize),
        records: 0,
        seconds: 0.0,
        last_deadline: None,
    };
    while let Some(done) = sent.next().await {
        let (id, expected, records) = done?;
        if let Expected::Deadline(deadline) = expected {
            written.last_deadline = written.last_deadline.max(deadline);
        }
        written.rfqs.push((id, expected));
        written.records += records;
        progress.inc(1);
    }
    progress.finish_and_clear();
    written.seconds = started.elapsed().as_secs_f64();
    Ok(written)
}
