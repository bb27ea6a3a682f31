//! One partner and one call to it: deadline-bound, through its bulkhead
//! and breaker, retried only where safe and within its budget, with the
//! RFQ's correlation id as the idempotency key. The partner's answers are
//! handed to a [`Sink`] as they come (in the response, or on callbacks).

mod answers;

pub use answers::Sink;

use super::{
    breaker::{Admission, Breaker, State},
    bulkhead::{Bulkhead, RetryBudget, Shed},
    callback::{Callbacks, MAX_BODY},
    contract::{AnswersDocument, Asked, Point, QuoteRequest},
    metrics::{BREAKER, CALLS, IN_FLIGHT, LATENCY, QUEUED, RETRIES, SHED, TRANSITIONS},
    settings::{PartnerSettings, PartnerSpec},
};
use chrono::Utc;
use rfq_core::Rfq;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use url::Url;

/// One HTTP partner: its client, bulkhead, budget and breaker.
#[derive(Debug)]
pub struct Partner {
    /// Its name and base URL.
    pub spec: PartnerSpec,
    /// `POST` here for quotes.
    quotes: Url,
    /// `GET` here for its providers.
    pub(super) providers: Url,
    /// The HTTP client (its own connection pool).
    pub(super) http: reqwest::Client,
    /// The knobs every partner shares.
    settings: Arc<PartnerSettings>,
    /// Its circuit breaker.
    breaker: Mutex<Breaker>,
    /// Its calls in flight and queue.
    bulkhead: Bulkhead,
    /// Its retries in reserve.
    budget: RetryBudget,
    /// Calls awaiting answers on callbacks.
    callbacks: Arc<Callbacks>,
}

/// The longest a call, its queue and its callbacks may take, whatever the
/// RFQ's deadline (as an undeliverable answer's retries).
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The least time left for a call to be worth making.
const MIN_CALL: Duration = Duration::from_millis(100);

/// How one attempt ended.
enum Attempt {
    /// `200` with this body.
    Answered(Vec<u8>),
    /// `202`: the answers will come on the callback.
    Accepted,
    /// `200` with a body that is not an answers document.
    Invalid(Vec<u8>),
    /// Failed; whether a retry is safe and useful, and the outcome label.
    Failed {
        /// The `outcome` label.
        outcome: &'static str,
        /// Whether the same call may be made again.
        retryable: bool,
    },
}

impl Partner {
    /// A partner with its own client.
    pub fn new(
        spec: PartnerSpec,
        settings: Arc<PartnerSettings>,
        callbacks: Arc<Callbacks>,
    ) -> anyhow::Result<Partner> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("rfq-adapter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout().min(Duration::from_secs(2)))
            .pool_max_idle_per_host(settings.concurrency)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let name = spec.name.as_str();
        BREAKER
            .with_label_values(&[name])
            .set(State::Closed.gauge());
        Ok(Partner {
            quotes: spec.url.join("quotes")?,
            providers: spec.url.join("providers")?,
            http,
            breaker: Mutex::new(Breaker::new(
                settings.breaker_failures,
                settings.breaker_open(),
            )),
            bulkhead: Bulkhead::new(settings.concurrency, settings.queue),
            budget: RetryBudget::new(settings.retry_budget),
            spec,
            settings,
            callbacks,
        })
    }

    fn name(&self) -> &str {
        &self.spec.name
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Does `what` with the breaker and publishes any transition it made,
    /// under the breaker's lock, so that the gauge and the transitions
    /// counter follow the breaker in order.
    fn with_breaker<R>(&self, what: impl FnOnce(&mut Breaker, Instant) -> R) -> R {
        let mut breaker = self.breaker();
        let before = breaker.last_state();
        let result = what(&mut breaker, Instant::now());
        let after = breaker.last_state();
        if before != after {
            tracing::info!(
                partner = self.name(),
                from = before.as_str(),
                to = after.as_str(),
                "circuit breaker"
            );
            BREAKER.with_label_values(&[self.name()]).set(after.gauge());
            TRANSITIONS
                .with_label_values(&[self.name(), after.as_str()])
                .inc();
        }
        result
    }

    fn shed(&self, reason: &str) {
        SHED.with_label_values(&[self.name(), reason]).inc();
    }

    /// Asks the partner for the `asked` providers' answers to `rfq`, and
    /// hands them to `sink` until they are due (the RFQ's deadline less the
    /// margin). Never waits past that; skips at once when the breaker is
    /// open or the bulkhead full.
    pub async fn ask(&self, rfq: &Rfq, asked: &Asked, sink: &impl Sink) {
        let margin =
            chrono::Duration::from_std(self.settings.deadline_margin()).unwrap_or_default();
        let answer_by = rfq.deadline - margin;
        // A deadline far off (an RFQ not from our producer) must not hold a
        // place, a callback or the partition's offset for ever.
        let left = (answer_by - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(MAX_WAIT);
        // Too little time for any partner to answer: not a call.
        if left < MIN_CALL.min(self.settings.timeout()) {
            return self.shed("no-time");
        }
        let due = tokio::time::Instant::now() + left;
        // An open breaker (or a half-open one whose probe is out) costs
        // nothing: not even a place in the queue.
        if !self.with_breaker(|breaker, now| breaker.would_admit(now)) {
            return self.shed("breaker-open");
        }
        let Some(mut awaiting) = self.callbacks.expect(self.name()) else {
            return self.shed("queue-full");
        };
        let gauges = (
            QUEUED.with_label_values(&[self.name()]),
            IN_FLIGHT.with_label_values(&[self.name()]),
        );
        let place = match self.bulkhead.enter(due, &gauges).await {
            Ok(place) => place,
            Err(Shed::QueueFull) => return self.shed("queue-full"),
            Err(Shed::NoTime) => return self.shed("no-time"),
        };
        let admission = self.with_breaker(|breaker, now| breaker.admit(now));
        if admission == Admission::Skip {
            return self.shed("breaker-open");
        }
        let mut probe = ProbeGuard {
            partner: self,
            armed: admission == Admission::Probe,
        };
        let request = QuoteRequest {
            correlation_id: rfq.id,
            providers: asked.keys().cloned().collect(),
            pickup: Point::from(rfq.from),
            destination: Point::from(rfq.to),
            deadline: rfq.deadline,
            answer_by,
            callback: awaiting.url.clone(),
        };
        let ended = self.call(&request, due, &mut probe).await;
        drop(place);
        let mut answered = BTreeSet::new();
        match ended {
            Some(Attempt::Answered(body) | Attempt::Invalid(body)) => {
                // A 200 has no one to tell: refusals are dead-lettered and counted.
                self.hand_over(&body, rfq, asked, &mut answered, sink).await;
            }
            Some(Attempt::Accepted) => {
                // The place is free again; the answers come on the callback.
                self.await_callbacks(&mut awaiting, due, rfq, asked, &mut answered, sink)
                    .await;
            }
            Some(Attempt::Failed { .. }) | None => {
                // The partner may have accepted a call whose 202 we never
                // read: what it posted already is kept.
                while let Ok(body) = awaiting.answers.try_recv() {
                    self.hand_over(&body, rfq, asked, &mut answered, sink).await;
                }
            }
        }
    }

    /// The attempts of one call; `None` when the breaker stopped retries.
    async fn call(
        &self,
        request: &QuoteRequest,
        due: tokio::time::Instant,
        probe: &mut ProbeGuard<'_>,
    ) -> Option<Attempt> {
        self.budget.earn();
        let mut backoff = Duration::from_millis(25);
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let own_limit = tokio::time::Instant::now() + self.settings.timeout();
            let ended =
                match tokio::time::timeout_at(due.min(own_limit), self.attempt(request)).await {
                    Ok(ended) => ended,
                    // Cut short by the RFQ's deadline, not by the partner's
                    // timeout: not the partner's failure.
                    Err(_) if due < own_limit => {
                        CALLS.with_label_values(&[self.name(), "due"]).inc();
                        LATENCY
                            .with_label_values(&[self.name()])
                            .observe(started.elapsed().as_secs_f64());
                        if probe.armed {
                            probe.armed = false;
                            self.breaker().probe_abandoned();
                        }
                        return None;
                    }
                    Err(_) => Attempt::Failed {
                        outcome: "timeout",
                        retryable: false,
                    },
                };
            LATENCY
                .with_label_values(&[self.name()])
                .observe(started.elapsed().as_secs_f64());
            let (outcome, succeeded, retryable) = match &ended {
                Attempt::Answered(_) => ("answered", true, false),
                Attempt::Accepted => ("accepted", true, false),
                Attempt::Invalid(_) => ("invalid", false, false),
                Attempt::Failed { outcome, retryable } => (*outcome, false, *retryable),
            };
            CALLS.with_label_values(&[self.name(), outcome]).inc();
            probe.armed = false;
            self.with_breaker(|breaker, now| breaker.record(succeeded, now));
            if succeeded || !retryable {
                return Some(ended);
            }
            attempt += 1;
            let time_left = due.saturating_duration_since(tokio::time::Instant::now());
            if attempt > self.settings.retries || time_left <= backoff {
                return Some(ended);
            }
            // Retry only while the breaker is closed (never take a half-open
            // breaker's probe for a retry).
            if self.with_breaker(|breaker, now| breaker.state(now)) != State::Closed {
                return None;
            }
            if !self.budget.spend() {
                RETRIES.with_label_values(&[self.name(), "denied"]).inc();
                return Some(ended);
            }
            RETRIES.with_label_values(&[self.name(), "made"]).inc();
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    /// One attempt, unbounded in time (the caller bounds it).
    async fn attempt(&self, request: &QuoteRequest) -> Attempt {
        let sent = self
            .http
            .post(self.quotes.clone())
            .header("idempotency-key", request.correlation_id.to_string())
            .json(request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(partner = self.name(), error = %error, "calling a partner");
                return Attempt::Failed {
                    outcome: "transport",
                    retryable: true,
                };
            }
        };
        let status = response.status().as_u16();
        match status {
            200 => match read_capped(response, MAX_BODY).await {
                Ok(body) if serde_json::from_slice::<AnswersDocument>(&body).is_ok() => {
                    Attempt::Answered(body)
                }
                Ok(body) => Attempt::Invalid(body),
                Err(outcome) => Attempt::Failed {
                    retryable: outcome == "transport",
                    outcome,
                },
            },
            202 => Attempt::Accepted,
            429 | 502 | 503 | 504 => Attempt::Failed {
                outcome: "unavailable",
                retryable: true,
            },
            _ if status >= 500 => Attempt::Failed {
                outcome: "unavailable",
                retryable: false,
            },
            _ => Attempt::Failed {
                outcome: "rejected",
                retryable: false,
            },
        }
    }
}

/// Reads a body up to `limit` bytes: `Err` with the outcome label
/// (`invalid`: too large; `transport`: broken).
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, &'static str> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err("invalid");
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err("transport"),
        }
    }
}

/// Gives the half-open breaker's probe back if its call is dropped before
/// it ends (the RFQ's task aborted at shutdown).
struct ProbeGuard<'a> {
    /// The partner.
    partner: &'a Partner,
    /// Whether the probe is still out.
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.partner.breaker().probe_abandoned();
        }
    }
}
