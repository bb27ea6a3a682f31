//! Partners' doors: the trust boundary between a partner on Kafka and the
//! pipeline. A partner `NAME` reads and writes only its door's topics
//! (`rfq.door.NAME.…`, [`Door`]); the door, hosted by an adapter, does
//! the rest:
//!
//! - outbound ([`outbound`]): every RFQ on the requests topic addressed to
//!   one of the partner's providers, as the partner may see it
//!   ([`PartnerRfq`](rfq_core::PartnerRfq): no customer, no other
//!   partner's providers), to the door's rfqs topic;
//! - answers ([`inbound`]): each checked ([`check`]) against the RFQs the
//!   door sent ([`sent`], read back from its rfqs topic) before it is
//!   forwarded to the RFQ's return address, as the fleet's answers are;
//! - heartbeats ([`inbound`]): forwarded to the providers topic for the
//!   partner's own providers only.
//!
//! What is refused is dead-lettered with the partner named and counted
//! per partner; a door never stops for a bad record. Offsets are stored
//! only once a record is forwarded or dead-lettered (at-least-once). The
//! set of doors may change while the adapter runs ([`run_doors`] follows a
//! `watch` of it); each door runs until it leaves the set, restarting
//! after a failure of its broker.

pub(crate) mod check;
mod context;
mod inbound;
mod outbound;
mod sent;

use crate::{AdapterSettings, metrics::DOOR_OPEN};
use anyhow::Context as _;
use context::Context;
use rdkafka::Offset;
use rfq_avro::SharedCodec;
use rfq_core::{
    PartnerName,
    kafka::{DeadLetters, Follower, ensure_door_topics},
    pipeline::PipelineSettings,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};
use tokio::{sync::watch, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// Longest wait before a failed door starts again.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(10);

/// Hosts the doors of the partners `doors` names, following its changes,
/// until `shutdown`: a door joining the set starts, one leaving it stops.
/// With `--door` flags the set is fixed; the partner directory may feed
/// one that changes.
pub async fn run_doors(
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    codec: SharedCodec,
    mut doors: watch::Receiver<BTreeSet<PartnerName>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let producer = pipeline
        .kafka
        .producer(&format!("rfq-doors-{}", settings.name))
        .context("creating the doors' producer")?;
    let margin =
        chrono::Duration::milliseconds(i64::try_from(settings.door_margin_ms).unwrap_or(i64::MAX));
    let mut running: BTreeMap<PartnerName, CancellationToken> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    let mut follow = true;
    loop {
        let wanted = doors.borrow_and_update().clone();
        running.retain(|partner, token| {
            let keep = wanted.contains(partner);
            if !keep {
                tracing::info!(%partner, "closing the door");
                token.cancel();
            }
            keep
        });
        for partner in wanted {
            if running.contains_key(&partner) {
                continue;
            }
            let dead_letters = DeadLetters::new(
                producer.clone(),
                pipeline.topics.dead_letter_topic.clone(),
                "door",
            )
            .for_partner(&partner);
            let context = Arc::new(Context {
                door: partner.door(),
                pipeline: pipeline.clone(),
                codec: codec.clone(),
                producer: producer.clone(),
                dead_letters,
                margin,
            });
            let token = shutdown.child_token();
            running.insert(partner, token.clone());
            tasks.spawn(keep_open(context, token));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = doors.changed(), if follow => {
                // The sender gone: the set stays as it is.
                follow = changed.is_ok();
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Runs one door until `token`, starting it again (with backoff) after a
/// failure.
async fn keep_open(context: Arc<Context>, token: CancellationToken) {
    let partner = context.door.partner().clone();
    let mut backoff = Duration::from_millis(500);
    loop {
        match open(&context, &token).await {
            Ok(()) if token.is_cancelled() => return,
            Ok(()) => tracing::warn!(%partner, "a door's reader ended; starting it again"),
            Err(error) => tracing::error!(
                %partner,
                error = format!("{error:#}"),
                retry_in = ?backoff,
                "door failed; starting it again"
            ),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}

/// Opens a door: its topics, then its four readers (the RFQs sent read
/// back, the requests, the answers, the heartbeats) until `token` or the
/// first of them fails.
async fn open(context: &Arc<Context>, token: &CancellationToken) -> anyhow::Result<()> {
    let (door, pipeline) = (&context.door, &context.pipeline);
    ensure_door_topics(&pipeline.kafka, &pipeline.topics, door).await?;
    let name = context.client("sent");
    let sent = Arc::new(sent::Sent::new(&pipeline.kafka, &name, &door.rfqs_topic())?);
    let follower = Follower::every_partition(
        &pipeline.kafka,
        &name,
        &door.rfqs_topic(),
        Offset::Beginning,
    )
    .await?;
    let inner = token.child_token();
    let mut readers = JoinSet::new();
    let read_back = sent::ReadBack {
        sent: sent.clone(),
        codec: context.codec.clone(),
    };
    readers.spawn(follower.run(read_back, inner.clone()));
    readers.spawn(outbound::run(context.clone(), inner.clone()));
    readers.spawn(inbound::answers(context.clone(), sent, inner.clone()));
    readers.spawn(inbound::heartbeats(context.clone(), inner.clone()));
    tracing::info!(partner = %door.partner(), prefix = %door.prefix(), "door open");
    let open = DOOR_OPEN.with_label_values(&[context.partner()]);
    open.set(1);
    let mut first = None;
    while let Some(joined) = readers.join_next().await {
        // The first to end ends the others.
        inner.cancel();
        let result = joined.context("a door's reader panicked").and_then(|r| r);
        if let Err(error) = result {
            first.get_or_insert(error);
        }
    }
    open.set(0);
    tracing::info!(partner = %door.partner(), "door closed");
    first.map_or(Ok(()), Err)
}
