//! `GET /rfqs/{id}/events`: the stream of one RFQ.
//!
//! - `event: answer`, `id: <seq>`: an answer kept in time, in the shape of
//!   the result's lists, with its `seq` and `outcome` (`quoted`, `declined`),
//!   in the order the aggregator kept them;
//! - `event: closed`, `id: closed`: the RFQ closed (`closed-by`, the result
//!   link); then the stream ends.
//!
//! `Last-Event-ID: n` sends what follows answer `n`; `Last-Event-ID:
//! closed` (a client reconnecting after the end) is answered `204`, which
//! tells an `EventSource` to stop.

use super::{LiveEvents, limits::Refused};
use crate::routes::Requested;
use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use rfq_core::{JudgedAnswer, problem::Problem};
use rfq_representation as representation;
use rfq_store::{RfqStatus, StoreError};
use std::{convert::Infallible, time::Duration};
use tokio::sync::mpsc;

/// The `id` of the `closed` event.
const CLOSED_ID: &str = "closed";

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// After answer `n` (0: from the start).
    After(u32),
    /// After the `closed` event: nothing left.
    Ended,
}

impl Resume {
    fn from_headers(headers: &HeaderMap) -> Result<Resume, Problem> {
        let Some(value) = headers.get("last-event-id") else {
            return Ok(Resume::After(0));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == CLOSED_ID {
            return Ok(Resume::Ended);
        }
        text.parse::<u32>().map(Resume::After).map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Bad Last-Event-ID",
                format!(
                    "Last-Event-ID must be the id of an event of this stream (a number, or \
                     {CLOSED_ID:?}), got {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                ),
            )
        })
    }
}

/// The handler: checks the bounds, then streams from a task of its own.
pub(crate) async fn events(requested: Requested, live: LiveEvents, headers: HeaderMap) -> Response {
    let resume = match Resume::from_headers(&headers) {
        Ok(resume) => resume,
        Err(problem) => return problem.into_response(),
    };
    if resume == Resume::Ended {
        return StatusCode::NO_CONTENT.into_response();
    }
    let permit = match live.streams.open(&requested.principal) {
        Ok(permit) => permit,
        Err(Refused::Total) => {
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too Many Streams",
                "this server holds as many live streams as it may; retry, or poll the RFQ",
            )
            .retry_after(5)
            .into_response();
        }
        Err(Refused::Customer) => {
            return Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Streams",
                "this API key's holder has as many live streams open as allowed; close one first",
            )
            .retry_after(5)
            .into_response();
        }
    };
    let (sender, receiver) = mpsc::channel(16);
    let Resume::After(after) = resume else {
        return StatusCode::NO_CONTENT.into_response();
    };
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(error) = stream(requested, &live, after, &sender).await {
            tracing::warn!(%error, "live stream ended: the store cannot be read");
        }
    });
    let events = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<Event, Infallible>(event), receiver))
    });
    (
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

/// How long a stream waits for a client to take an event before it gives
/// up on the client (one that stopped reading would hold its place and
/// the server's shutdown for ever).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the RFQ's answers after `after`, then each new one, then the
/// close; returns when the RFQ closed, the client left or the server stops.
async fn stream(
    requested: Requested,
    live: &LiveEvents,
    mut after: u32,
    sender: &mpsc::Sender<Event>,
) -> Result<(), StoreError> {
    let Requested {
        stored,
        links,
        store,
        view,
        ..
    } = requested;
    let id = stored.rfq.id;
    // Watching begins before the store is read: nothing falls in between.
    let mut watch = live.live.watch(id);
    // Answers counted when the store was last read (None: not read yet).
    let mut counted = None;
    loop {
        // The status first: if it says closed, the answers read next are
        // all there are.
        let Some(stored) = store.rfq(&id).await? else {
            return Ok(());
        };
        let closed = matches!(stored.status, RfqStatus::Closed { .. });
        // Nothing new counted, nothing to read (a late answer is never sent).
        if closed || counted != Some(stored.responses_received) {
            counted = Some(stored.responses_received);
            let mut answers: Vec<JudgedAnswer> = match stored.responses_received {
                0 if !closed => Vec::new(),
                _ => store.responses(&id).await?,
            };
            answers.sort_by_key(|kept| kept.seq);
            let from = after;
            for kept in answers.iter().filter(|kept| kept.seq > from) {
                // Only through an unbroken run: an answer whose predecessor
                // is not readable yet waits for it (a store may show a
                // later write first), unless the RFQ closed (then the run
                // is all there will be).
                if kept.seq != after + 1 && !closed {
                    counted = None;
                    break;
                }
                after = kept.seq;
                // Late answers are never sent, nor what the view hides (a
                // competitor's answer, to a partner).
                if kept.is_late() || !view.shows(&kept.answer.provider) {
                    continue;
                }
                let event = Event::default()
                    .event("answer")
                    .id(kept.seq.to_string())
                    .json_data(representation::event_answer(kept));
                let Ok(event) = event else { continue };
                if !send(sender, event, live).await {
                    return Ok(());
                }
            }
        }
        if closed {
            let answers = match view.is_whole() {
                true => Vec::new(),
                false => store.responses(&id).await?,
            };
            let (stored, _) = view.narrow(stored, answers);
            let event = Event::default()
                .event("closed")
                .id(CLOSED_ID)
                .json_data(representation::closed_status(&links, &stored));
            if let Ok(event) = event {
                send(sender, event, live).await;
            }
            return Ok(());
        }
        tokio::select! {
            () = watch.changed() => {}
            () = sender.closed() => return Ok(()),
            () = live.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// Hands `event` to the client's response; false if the client left, does
/// not read, or the server stops.
async fn send(sender: &mpsc::Sender<Event>, event: Event, live: &LiveEvents) -> bool {
    tokio::select! {
        sent = tokio::time::timeout(SEND_TIMEOUT, sender.send(event)) => matches!(sent, Ok(Ok(()))),
        () = live.shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_id_is_a_number_or_closed() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("last-event-id", value.parse().unwrap());
            Resume::from_headers(&headers)
        };
        assert!(matches!(
            Resume::from_headers(&HeaderMap::new()),
            Ok(Resume::After(0))
        ));
        assert!(matches!(with("7"), Ok(Resume::After(7))));
        assert!(matches!(with(" closed "), Ok(Resume::Ended)));
        assert!(with("-1").is_err());
        assert!(with("seven").is_err());
    }
}
