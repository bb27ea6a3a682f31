//! Which partners' doors `rfq up` hosts: those named by `--door`, and every
//! partner in the store that is not removed (`rfq partners add` while it
//! runs opens a door within [`PERIOD`]; `rfq partners remove` closes it).

use rfq_core::PartnerName;
use rfq_store::Store;
use std::{collections::BTreeSet, sync::Arc, time::Duration};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the store's partners are read again.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The set of doors to host, kept up to date from `store` until `shutdown`.
pub async fn follow_partners(
    store: Arc<dyn Store>,
    fixed: BTreeSet<PartnerName>,
    shutdown: CancellationToken,
) -> watch::Receiver<BTreeSet<PartnerName>> {
    let first = wanted(store.as_ref(), &fixed)
        .await
        .unwrap_or_else(|| fixed.clone());
    let (send, receive) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(PERIOD) => {}
            }
            if let Some(now) = wanted(store.as_ref(), &fixed).await {
                send.send_if_modified(|doors| {
                    let changed = *doors != now;
                    *doors = now;
                    changed
                });
            }
        }
    });
    receive
}

/// `fixed` and the store's active partners; `None` (the set kept as it is)
/// when the store cannot be read.
async fn wanted(store: &dyn Store, fixed: &BTreeSet<PartnerName>) -> Option<BTreeSet<PartnerName>> {
    match store.partners().await {
        Ok(partners) => Some(
            partners
                .into_iter()
                .filter(|partner| !partner.removed)
                .map(|partner| partner.name)
                .chain(fixed.iter().cloned())
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "reading the partners for their doors; the doors stay as they are");
            None
        }
    }
}
