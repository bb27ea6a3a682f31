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
};
use tokio::sync::mpsc;
use url::Url;
use uuid::Uuid;

use super::metrics::{CALLBACKS, CALLBACKS_PENDING};

/// A partner's answers document, as posted.
pub type Delivered = Bytes;

/// Documents queued per awaited call at most (beyond: `429`).
const QUEUE: usize = 16;

/// The largest callback body accepted.
pub const MAX_BODY: usize = 256 * 1024;

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
        let (sender, answers) = mpsc::channel(QUEUE);
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
    // Queued, not handled: the call that awaits it may still be waiting for
    // its own 202. What is refused is dead-lettered, not answered here.
    match sender.try_send(body) {
        Ok(()) => {
            CALLBACKS
                .with_label_values(&[partner.as_str(), "delivered"])
                .inc();
            StatusCode::ACCEPTED.into_response()
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            CALLBACKS
                .with_label_values(&[partner.as_str(), "busy"])
                .inc();
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many callbacks for this call at once",
                "send it again in a moment",
            )
            .retry_after(1)
            .into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            CALLBACKS
                .with_label_values(&[partner.as_str(), "unknown"])
                .inc();
            unknown()
        }
    }
}
