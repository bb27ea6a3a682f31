//! What one adapter hosts: a simulated fleet, HTTP partners, partners'
//! doors, or doors beside either.

use crate::{AdapterSettings, door::run_doors, fleet::Fleet, worker::serve};
use anyhow::Context as _;
use rfq_avro::SharedCodec;
use rfq_core::{PartnerName, pipeline::PipelineSettings};
use std::collections::BTreeSet;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Runs an adapter until `shutdown`: registers its fleet, answers RFQs,
/// and on shutdown drains in-flight answers, commits and deregisters.
pub async fn run(
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let fleet = (settings.partners.partners.is_empty() && settings.doors.is_empty())
        .then(|| Fleet::generate(&settings.name, &settings.fleet, &pipeline.vicinity()));
    run_hosting(pipeline, settings, fleet, codec, shutdown).await
}

/// [`run_hosting`] with the doors of `settings.doors`, a fixed set.
pub async fn run_hosting(
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    fleet: Option<Fleet>,
    codec: SharedCodec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (_, doors) = watch::channel(settings.doors.iter().cloned().collect());
    run_hosting_doors(pipeline, settings, fleet, codec, doors, shutdown).await
}

/// Runs an adapter hosting `fleet` (see [`serve`]) and the doors `doors`
/// names as it changes ([`run_doors`]); with neither a fleet nor HTTP
/// partners, the doors alone. Ends when either ends (the other stopped).
pub async fn run_hosting_doors(
    pipeline: PipelineSettings,
    settings: AdapterSettings,
    fleet: Option<Fleet>,
    codec: SharedCodec,
    doors: watch::Receiver<BTreeSet<PartnerName>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let doors_stop = shutdown.child_token();
    let host = tokio::spawn(run_doors(
        pipeline.clone(),
        settings.clone(),
        codec.clone(),
        doors,
        doors_stop.clone(),
    ));
    let result = match fleet.is_none() && settings.partners.partners.is_empty() {
        true => {
            doors_stop.cancelled().await;
            Ok(())
        }
        false => serve(pipeline, settings, fleet, codec, shutdown).await,
    };
    doors_stop.cancel();
    let doors = host.await.context("the doors' host panicked")?;
    result.and(doors)
}
