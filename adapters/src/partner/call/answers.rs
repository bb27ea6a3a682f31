//! A partner's answers on their way: each usable one handed to the
//! [`Sink`] once (the first document naming a provider stands), what was
//! refused as one dead letter with every reason; callbacks awaited until
//! every asked provider answered or the call is due.

use super::Partner;
use crate::partner::{
    callback::Awaiting,
    contract::{Asked, Refusal, parse_answers},
    metrics::ANSWERS,
};
use chrono::Utc;
use rfq_core::{Answer, ProviderId, Rfq};
use std::collections::BTreeSet;

/// Where a call's answers go (the adapter's delivery to the return
/// address; refusals to the dead-letter topic).
pub trait Sink: Sync {
    /// A usable answer.
    fn answer(&self, answer: Answer) -> impl Future<Output = ()> + Send;
    /// Something unusable the partner sent: `body` and why.
    fn refuse(&self, refusal: Refusal, body: &[u8]) -> impl Future<Output = ()> + Send;
}

/// The longest reason of a dead-lettered document.
const MAX_REASON: usize = 4096;

impl Partner {
    /// Parses a partner's answers document (a `200`'s or a callback's) and
    /// hands over the answers of providers not `answered` yet (adding
    /// them), and what was refused as one dead letter with every reason.
    pub(super) async fn hand_over(
        &self,
        body: &[u8],
        rfq: &Rfq,
        asked: &Asked,
        answered: &mut BTreeSet<ProviderId>,
        sink: &impl Sink,
    ) {
        let (answers, mut refusals) = parse_answers(body, rfq, asked, Utc::now());
        for answer in answers {
            if !answered.insert(answer.provider.clone()) {
                // Sent again in a later document: the first one stands.
                continue;
            }
            let kind = answer.reply.outcome().as_str();
            ANSWERS.with_label_values(&[self.name(), kind]).inc();
            sink.answer(answer).await;
        }
        if refusals.is_empty() {
            return;
        }
        ANSWERS
            .with_label_values(&[self.name(), "refused"])
            .inc_by(refusals.len() as u64);
        let provider = match refusals.as_slice() {
            [only] => only.provider.clone(),
            _ => None,
        };
        let mut reason = refusals
            .drain(..)
            .map(|r| r.reason)
            .collect::<Vec<_>>()
            .join("; ");
        if reason.len() > MAX_REASON {
            let cut = (0..=MAX_REASON)
                .rev()
                .find(|&i| reason.is_char_boundary(i))
                .unwrap_or(0);
            reason.truncate(cut);
            reason.push_str(" …");
        }
        tracing::warn!(partner = self.name(), rfq = %rfq.id, %reason, "a partner's answers refused");
        sink.refuse(Refusal { provider, reason }, body).await;
    }

    /// Hands over the answers of callbacks until every asked provider
    /// answered or they are `due`; a callback received is always handled
    /// to the end (its answers made durable), even past `due`.
    pub(super) async fn await_callbacks(
        &self,
        awaiting: &mut Awaiting,
        due: tokio::time::Instant,
        rfq: &Rfq,
        asked: &Asked,
        answered: &mut BTreeSet<ProviderId>,
        sink: &impl Sink,
    ) {
        while answered.len() < asked.len() {
            let Ok(Some(body)) = tokio::time::timeout_at(due, awaiting.answers.recv()).await else {
                return;
            };
            self.hand_over(&body, rfq, asked, answered, sink).await;
        }
    }
}
