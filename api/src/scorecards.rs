//! Provider scorecards over a time window: `GET /providers/{id}/scorecard`
//! and `GET /providers` (paged). A scorecard tells a provider's wins, win
//! rate and latency, what its competitors must not read: an operator's
//! key reads every scorecard, a partner's those of its own providers
//! ([`Principal::reads_scorecard_of`]: another's is `404` exactly as an
//! unknown one, and `GET /providers` lists its own only), and a
//! customer's none (`403`: a customer is told, not left guessing).
//!
//! The lines come from the store ([`Store::score_lines`]), one per RFQ
//! addressed to the provider that closed, filed under the RFQ's creation
//! time; the figures are their fold ([`Scorecard::of`]), computed here on
//! read, so the store keeps only what the aggregator decided. The window
//! is `?since=&until=` (RFC 3339) or `?window=` (`1h`, `24h`, `7d`, … up
//! to [`MAX_SCORECARD_DAYS`] days), 24 hours up to now by default.

pub mod openapi;

use crate::routes::{ApiState, ReadError};
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rfq_core::{
    MAX_SCORECARD_DAYS, ProviderId, ScoreWindow, Scorecard,
    auth::{AuthError, Principal},
    problem::Problem,
};
use rfq_store::StoreError;
use serde_json::{Value, json};

/// Providers on a page of `GET /providers` by default.
const DEFAULT_LIMIT: usize = 20;

/// Providers on a page at most.
const MAX_LIMIT: usize = 100;

/// The window when a request names none.
const DEFAULT_WINDOW: &str = "24h";

/// A request the scorecard routes refuse, as a `400` problem.
struct BadQuery {
    /// The problem's title.
    title: &'static str,
    /// What was wrong.
    detail: String,
}

impl IntoResponse for BadQuery {
    fn into_response(self) -> Response {
        Problem::new(StatusCode::BAD_REQUEST, self.title, self.detail).into_response()
    }
}

fn bad_window(detail: impl Into<String>) -> BadQuery {
    BadQuery {
        title: "Bad Window",
        detail: detail.into(),
    }
}

/// The query parameters, percent-decoded (the last of a repeated name wins).
fn parameters(uri: &Uri) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `1h`, `24h`, `7d`: a number of hours or days.
fn span(text: &str) -> Option<Duration> {
    // The unit is the last byte, if it is a whole character (`%C2%80`
    // decodes to one of two bytes: splitting inside it would panic).
    let unit_at = text
        .len()
        .checked_sub(1)
        .filter(|at| text.is_char_boundary(*at))?;
    let (number, unit) = text.split_at(unit_at);
    let number: i64 = number.parse().ok().filter(|n| (1..=10_000).contains(n))?;
    match unit {
        "h" => Some(Duration::hours(number)),
        "d" => Some(Duration::days(number)),
        _ => None,
    }
}

fn instant(name: &str, text: &str) -> Result<DateTime<Utc>, BadQuery> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            bad_window(format!(
                "{name} must be an RFC 3339 date-time, not {text:?}"
            ))
        })
}

/// The window a query names, seen at `now`.
fn window(
    query: &std::collections::HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<ScoreWindow, BadQuery> {
    let (since, until) = (query.get("since"), query.get("until"));
    let (since, until) = match query.get("window") {
        Some(_) if since.is_some() || until.is_some() => {
            return Err(bad_window(
                "give either window or since and until, not both",
            ));
        }
        named => {
            let named = named.map_or(DEFAULT_WINDOW, String::as_str);
            let length = span(named).ok_or_else(|| {
                bad_window(format!(
                    "window is hours or days (1h, 24h, 7d), not {named:?}"
                ))
            })?;
            let until = until
                .map(|t| instant("until", t))
                .transpose()?
                .unwrap_or(now);
            let since = match since {
                Some(text) => instant("since", text)?,
                None => until.checked_sub_signed(length).unwrap_or(until),
            };
            (since, until)
        }
    };
    ScoreWindow::new(since, until).map_err(|error| {
        bad_window(format!(
            "{error} (the window is since..until, at most {MAX_SCORECARD_DAYS} days)"
        ))
    })
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `since=…&until=…`, percent-encoded, for links.
fn window_query(window: &ScoreWindow) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("since", &time(window.since()))
        .append_pair("until", &time(window.until()))
        .finish()
}

/// A provider's scorecard as JSON (`Scorecard` in the OpenAPI document).
fn representation(
    base: &str,
    provider: &ProviderId,
    window: &ScoreWindow,
    card: &Scorecard,
) -> Value {
    let provider_path: String =
        url::form_urlencoded::byte_serialize(provider.as_str().as_bytes()).collect();
    json!({
        "links": {"self": format!(
            "{base}/providers/{provider_path}/scorecard?{}", window_query(window))},
        "provider": provider.as_str(),
        "since": time(window.since()),
        "until": time(window.until()),
        "addressed": card.addressed,
        "answered-in-time": card.answered_in_time(),
        "quoted": card.quoted,
        "declined": card.declined,
        "late": card.late,
        "silent": card.silent,
        "duplicates": card.duplicates,
        "wins": card.wins,
        "win-rate": card.win_rate(),
        "mean-rank": card.mean_rank,
        "latency-ms": card.latency.map(|p| json!({"p50": p.p50, "p90": p.p90, "p99": p.p99})),
    })
}

/// Who asks for scorecards: a partner or an operator (a customer's key is
/// refused, `403`).
async fn reader(state: &ApiState, headers: &HeaderMap) -> Result<Principal, ReadError> {
    match state.principal(headers).await? {
        Principal::Customer(_) => Err(ReadError::Unauthorized(AuthError::Forbidden(
            "a customer key does not read scorecards: a partner's key reads its own \
             providers', an operator's every provider's"
                .to_owned(),
        ))),
        reader => Ok(reader),
    }
}

/// The providers with lines in `window` that `reader` reads, ascending,
/// after `after`, at most `limit`. A partner's providers (`NAME-…`) are
/// one run in id order: the run is read from its start, and no further.
async fn scored(
    state: &ApiState,
    reader: &Principal,
    window: &ScoreWindow,
    after: Option<&ProviderId>,
    limit: usize,
) -> Result<Vec<ProviderId>, StoreError> {
    let store = state.store();
    let Principal::Partner(partner) = reader else {
        return store.scored_providers(window, after, limit).await;
    };
    // Every id of the partner's comes after `NAME-` (which it does not own).
    let Ok(start) = ProviderId::parse(&format!("{partner}-")) else {
        return Ok(Vec::new());
    };
    let after = after.filter(|after| **after > start).unwrap_or(&start);
    let mut listed = store.scored_providers(window, Some(after), limit).await?;
    let own = listed
        .iter()
        .position(|provider| !partner.owns(provider))
        .unwrap_or(listed.len());
    listed.truncate(own);
    Ok(listed)
}

/// `GET /providers/{id}/scorecard`.
pub(crate) async fn scorecard(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ReadError> {
    let reader = reader(&state, &headers).await?;
    let window = match window(&parameters(&uri), Utc::now()) {
        Ok(window) => window,
        Err(bad) => return Ok(bad.into_response()),
    };
    let not_found = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "Provider Not Found",
            format!("no RFQ addressed to provider {id:?} closed in the window"),
        )
        .into_response()
    };
    // Another partner's provider is not found, exactly as an unknown one.
    let Some(provider) = ProviderId::parse(&id)
        .ok()
        .filter(|provider| reader.reads_scorecard_of(provider))
    else {
        return Ok(not_found());
    };
    let lines = state.store().score_lines(&provider, &window).await?;
    if lines.is_empty() {
        return Ok(not_found());
    }
    let base = state.links().base(&headers);
    let card = Scorecard::of(&lines);
    Ok(Json(representation(&base, &provider, &window, &card)).into_response())
}

/// `GET /providers`: the providers with scorecard lines in the window,
/// ascending by id, a page at a time (`limit`, `page-token`: the last
/// provider of the previous page, carried by the `next` link with the
/// window made absolute, so that later pages cover the same window).
pub(crate) async fn providers(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ReadError> {
    let reader = reader(&state, &headers).await?;
    let query = parameters(&uri);
    let window = match window(&query, Utc::now()) {
        Ok(window) => window,
        Err(bad) => return Ok(bad.into_response()),
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            let detail = format!("limit is a whole number from 1 to {MAX_LIMIT}");
            return Ok(BadQuery {
                title: "Bad Limit",
                detail,
            }
            .into_response());
        }
    };
    let after = match query.get("page-token").map(|t| ProviderId::parse(t)) {
        None => None,
        Some(Ok(after)) => Some(after),
        Some(Err(_)) => {
            let detail = "page-token is the one a next link carries".to_owned();
            return Ok(BadQuery {
                title: "Bad Page Token",
                detail,
            }
            .into_response());
        }
    };
    let store = state.store();
    // One more than asked: whether there is a next page.
    let mut listed = scored(&state, &reader, &window, after.as_ref(), limit + 1).await?;
    let more = listed.len() > limit;
    listed.truncate(limit);
    let base = state.links().base(&headers);
    let mut cards = Vec::with_capacity(listed.len());
    for provider in &listed {
        let card = Scorecard::of(&store.score_lines(provider, &window).await?);
        cards.push(representation(&base, provider, &window, &card));
    }
    let page = |token: Option<&ProviderId>| {
        let mut query = format!("{}&limit={limit}", window_query(&window));
        if let Some(token) = token {
            let token: String =
                url::form_urlencoded::byte_serialize(token.as_str().as_bytes()).collect();
            query.push_str(&format!("&page-token={token}"));
        }
        format!("{base}/providers?{query}")
    };
    let mut links = json!({"self": page(after.as_ref())});
    if let Some(last) = listed.last().filter(|_| more) {
        links["next"] = json!(page(Some(last)));
    }
    Ok(Json(json!({
        "links": links,
        "since": time(window.since()),
        "until": time(window.until()),
        "providers": cards,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> std::collections::HashMap<String, String> {
        parameters(&format!("/providers?{text}").parse::<Uri>().expect("a URI"))
    }

    #[test]
    fn windows_are_named_or_given_and_bounded() {
        let now = Utc::now();
        let day = window(&query(""), now)
            .map_err(|b| b.detail)
            .expect("default");
        assert_eq!(
            (day.until(), day.until() - day.since()),
            (now, Duration::hours(24))
        );
        let week = window(&query("window=7d"), now)
            .map_err(|b| b.detail)
            .expect("7d");
        assert_eq!(week.until() - week.since(), Duration::days(7));
        let given = window(
            &query("since=2025-01-01T00:00:00Z&until=2025-01-02T00:00:00%2B01:00"),
            now,
        )
        .map_err(|b| b.detail)
        .expect("given");
        assert_eq!(given.until() - given.since(), Duration::hours(23));
        for bad in [
            "window=90d",
            "window=1w",
            "window=h",
            "window=-1h",
            "window=%C2%80",
            "window=1%C2%80",
            "since=yesterday",
            "since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z",
            "window=1h&since=2025-01-01T00:00:00Z",
        ] {
            let refused = window(&query(bad), now).err().map(|b| b.title);
            assert_eq!(refused, Some("Bad Window"), "{bad}");
        }
    }
}
