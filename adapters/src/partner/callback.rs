//! Callbacks: a partner that answers `202 Accepted` later `POST`s its
//! answers to the URL its request named, which this server serves. Each
//! call awaiting answers holds one entry (under a random token, so nobody
//! else can answer for it) until its answers are due; the entries are
//! bounded per partner, and an entry's end removes it.

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use rfq_core::problem::Problem;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};
use url::Url;
use uuid::Uuid;

use super::metrics::{CALLBACKS, CALLBACKS_PENDING};

/// A partner's answers document, and where to say whether it was usable
/// (`Err`: what was not).
pub type Delivered = (Bytes, oneshot::Sender<Result<(), String>>);

/// The largest callback body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// How long a callback request waits for its answers to be handled.
const HANDLING_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls awaiting answers on callbacks, by token.
#[derive(Debug)]
pub struct Callbacks {
    /// Where partners reach this server.
    base: Url,
    /// Awaited calls.
    awaited: Mutex<Awaited>,
    /// Entries per partner at most.
    max_per_partner: usize,
}

/// The awaited calls.
#[derive(Debug, Default)]
struct Awaited {
    /// Token → (partner, where its answers go).
    by_token: HashMap<Uuid, (String, mpsc::Sender<Delivered>)>,
    /// Entries per partner.
    per_partner: HashMap<String, usize>,
}

/// An awaited call's entry; removed when dropped.
pub struct Awaiting {
    /// The registry.
    callbacks: Arc<Callbacks>,
    /// Its token.
    token: Uuid,
    /// Its partner.
    partner: String,
    /// Where the partner's answers arrive.
    pub answers: mpsc::Receiver<Delivered>,
    /// The URL the partner posts them to.
    pub url: String,
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        let mut awaited = self.callbacks.lock();
        awaited.by_token.remove(&self.token);
        if let Some(held) = awaited.per_partner.get_mut(&self.partner) {
            *held = held.saturating_sub(1);
        }
        CALLBACKS_PENDING
            .with_label_values(&[self.partner.as_str()])
            .dec();
    }
}

impl Callbacks {
    /// Callbacks served at `base`, `max_per_partner` awaited per partner.
    pub fn new(base: Url, max_per_partner: usize) -> Arc<Callbacks> {
        Arc::new(Callbacks {
            base,
            awaited: Mutex::new(Awaited::default()),
            max_per_partner,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Awaited> {
        self.awaited.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An entry for one call of `partner`, or `None` when the partner has
    /// its most entries already.
    pub fn expect(self: &Arc<Self>, partner: &str) -> Option<Awaiting> {
        let token = Uuid::new_v4();
        let (sender, answers) = mpsc::channel(4);
        {
            let mut awaited = self.lock();
            let held = awaited.per_partner.entry(partner.to_owned()).or_default();
            if *held >= self.max_per_partner {
                return None;
            }
            *held += 1;
            awaited.by_token.insert(token, (partner.to_owned(), sender));
        }
        CALLBACKS_PENDING.with_label_values(&[partner]).inc();
        let url = self
            .base
            .join(&format!("partner-callbacks/{token}"))
            .map_or_else(
                |_| format!("{}partner-callbacks/{token}", self.base),
                String::from,
            );
        Some(Awaiting {
            callbacks: self.clone(),
            token,
            partner: partner.to_owned(),
            answers,
            url,
        })
    }

    /// The callback routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/partner-callbacks/{token}", post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self.clone())
    }
}

async fn receive(
    State(callbacks): State<Arc<Callbacks>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let unknown = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "No call awaits this callback",
            "the token is unknown, or the RFQ's answers were due already",
        )
        .into_response()
    };
    let Ok(token) = Uuid::parse_str(&token) else {
        return unknown();
    };
    let found = callbacks.lock().by_token.get(&token).cloned();
    let Some((partner, sender)) = found else {
        CALLBACKS.with_label_values(&["unknown", "unknown"]).inc();
        return unknown();
    };
    let (reply, handled) = oneshot::channel();
    if sender.send((body, reply)).await.is_err() {
        CALLBACKS
            .with_label_values(&[partner.as_str(), "unknown"])
            .inc();
        return unknown();
    }
    CALLBACKS
        .with_label_values(&[partner.as_str(), "delivered"])
        .inc();
    match tokio::time::timeout(HANDLING_TIMEOUT, handled).await {
        Ok(Ok(Ok(()))) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Err(reason))) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Some answers were refused",
            reason,
        )
        .into_response(),
        // The call ended (its answers were due) before this was read.
        Ok(Err(_)) => unknown(),
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The answers could not be handled in time",
            "send them again with the same content",
        )
        .into_response(),
    }
}
