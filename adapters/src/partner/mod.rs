//! HTTP partners: providers whose platform speaks HTTP, not Kafka. The
//! adapter registers each partner's providers (its `GET /providers` list,
//! fetched again every `--partner-refresh-seconds`) and, for every RFQ
//! addressed to some of them, calls the partner's `POST /quotes` once with
//! those providers, turning each answer into a QuoteResponse on the RFQ's
//! return address (the contract: `docs/partners.md`, "Partners over HTTP").
//!
//! Seed 004's remedies for the unicorn management service, per partner: a
//! timeout derived from the RFQ's deadline (nothing is waited for, or
//! answered, after it), a bulkhead with its own queue so a slow partner
//! holds only its own places, retries only where safe and within a budget,
//! a circuit breaker that skips a failing partner at no cost, and the
//! correlation id as the idempotency key of every call.

mod breaker;
mod bulkhead;
mod call;
mod callback;
mod contract;
mod metrics;
mod settings;

pub use call::Sink;
pub use contract::Refusal;
pub use settings::{PartnerSettings, PartnerSpec};

use crate::fleet::Unicorn;
use anyhow::Context as _;
use call::Partner;
use callback::Callbacks;
use contract::Asked;
use rfq_core::{GeoPoint, ProviderId, Region, RegionPrecision, Rfq};
use serde::Deserialize;
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
};
use tokio_util::sync::CancellationToken;

/// The largest provider list read.
const MAX_LIST: usize = 8 * 1024 * 1024;

/// A partner's provider list, as `GET {URL}/providers` answers it.
#[derive(Debug, Deserialize)]
struct ProviderList {
    /// Its providers.
    providers: Vec<ListedProvider>,
}

/// One provider of a partner's list.
#[derive(Debug, Deserialize)]
struct ListedProvider {
    /// The partner's id of it; ours is `PARTNER-ID`.
    id: String,
    /// Where it waits.
    position: contract::Point,
}

/// The HTTP partners of one adapter.
#[derive(Debug)]
pub struct Partners {
    /// Each partner.
    partners: Vec<Partner>,
    /// Their providers as last listed (a failed fetch keeps the last list),
    /// by partner index.
    lists: Mutex<Vec<Vec<Unicorn>>>,
    /// Our provider id → (partner index, the partner's id).
    roster: Mutex<HashMap<ProviderId, (usize, String)>>,
    /// Where partners post their callbacks.
    callback_addr: SocketAddr,
}

impl Partners {
    /// The configured partners, with their callback server listening until
    /// `shutdown`.
    pub async fn start(
        settings: &PartnerSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Partners>> {
        let listen = settings.callback_listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the partners' callback server to {listen}"))?;
        let callback_addr = listener.local_addr()?;
        let base = match &settings.callback_url {
            Some(url) if url.path().ends_with('/') => url.clone(),
            Some(url) => url::Url::parse(&format!("{url}/"))?,
            None => url::Url::parse(&format!("http://{callback_addr}/"))?,
        };
        let callbacks = Callbacks::new(base, settings.max_callbacks);
        let router = callbacks.router();
        tokio::spawn(async move {
            if let Err(error) = rfq_core::http::serve(listener, router, shutdown).await {
                tracing::error!(%error, "the partners' callback server stopped");
            }
        });
        let mut names = std::collections::BTreeSet::new();
        for spec in &settings.partners {
            // Names prefix provider ids: a repeated name would mix fleets.
            anyhow::ensure!(
                names.insert(spec.name.as_str()),
                "partner {} is configured twice",
                spec.name
            );
        }
        let shared = Arc::new(settings.clone());
        let partners = settings
            .partners
            .iter()
            .map(|spec| Partner::new(spec.clone(), shared.clone(), callbacks.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Arc::new(Partners {
            lists: Mutex::new(vec![Vec::new(); partners.len()]),
            partners,
            roster: Mutex::new(HashMap::new()),
            callback_addr,
        }))
    }

    /// Where the callback server listens.
    pub fn callback_addr(&self) -> SocketAddr {
        self.callback_addr
    }

    /// Fetches every partner's provider list (a partner that fails keeps
    /// its last one) and returns all their providers, each cut into its
    /// region at `precision`.
    pub async fn refresh(&self, precision: RegionPrecision) -> Vec<Unicorn> {
        let fetched =
            futures::future::join_all(self.partners.iter().map(|p| list(p, precision))).await;
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let mut roster = HashMap::new();
        for (index, (partner, fetched)) in self.partners.iter().zip(fetched).enumerate() {
            match fetched {
                Ok(unicorns) => lists[index] = unicorns,
                Err(error) => tracing::warn!(
                    partner = %partner.spec.name,
                    error = format!("{error:#}"),
                    "fetching a partner's providers (keeping its last list)"
                ),
            }
            metrics::PROVIDERS
                .with_label_values(&[partner.spec.name.as_str()])
                .set(lists[index].len() as i64);
            let prefix = format!("{}-", partner.spec.name);
            for unicorn in &lists[index] {
                let theirs = unicorn
                    .id
                    .as_str()
                    .strip_prefix(&prefix)
                    .unwrap_or_default();
                roster.insert(unicorn.id.clone(), (index, theirs.to_owned()));
            }
        }
        *self.roster.lock().unwrap_or_else(|e| e.into_inner()) = roster;
        lists.iter().flatten().cloned().collect()
    }

    /// Asks each partner with providers `rfq` addresses, all at once, and
    /// hands their answers to `sink`; returns when every call is over (by
    /// the RFQ's deadline).
    pub async fn answer(&self, rfq: &Rfq, sink: &impl Sink) {
        let mut asked: BTreeMap<usize, Asked> = BTreeMap::new();
        {
            let roster = self.roster.lock().unwrap_or_else(|e| e.into_inner());
            for id in &rfq.addressed {
                if let Some((index, theirs)) = roster.get(id) {
                    asked
                        .entry(*index)
                        .or_default()
                        .insert(theirs.clone(), id.clone());
                }
            }
        }
        let calls = asked
            .into_iter()
            .map(|(index, asked)| async move { self.partners[index].ask(rfq, &asked, sink).await });
        futures::future::join_all(calls).await;
    }
}

/// Fetches one partner's providers.
async fn list(partner: &Partner, precision: RegionPrecision) -> anyhow::Result<Vec<Unicorn>> {
    let response = partner
        .http
        .get(partner.providers.clone())
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {}", partner.providers))?;
    let body = call::read_capped(response, MAX_LIST).await.map_err(|why| {
        anyhow::anyhow!(
            "GET {}: {why} body (at most {MAX_LIST} bytes)",
            partner.providers
        )
    })?;
    let listed: ProviderList = serde_json::from_slice(&body)
        .with_context(|| format!("GET {}: not a provider list", partner.providers))?;
    let mut unicorns = Vec::new();
    for provider in listed.providers {
        let id = format!("{}-{}", partner.spec.name, provider.id);
        let parsed = ProviderId::parse(&id)
            .map_err(|e| e.to_string())
            .and_then(|id| {
                GeoPoint::new(provider.position.lat, provider.position.lon)
                    .map(|position| (id, position))
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok((id, position)) => unicorns.push(Unicorn::hosted(
                id,
                position,
                Region::of(&position, precision),
                &partner.spec.name,
            )),
            Err(error) => tracing::warn!(
                partner = %partner.spec.name,
                provider = %provider.id,
                %error,
                "a listed provider skipped"
            ),
        }
    }
    Ok(unicorns)
}
