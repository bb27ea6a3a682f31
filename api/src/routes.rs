use crate::{
    access::View,
    live::{self, LiveEvents},
};
use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use rfq_core::{
    CorrelationId,
    auth::{AuthError, Authenticator, Principal},
    http::{LinkSettings, RfqLinks, Routes, Served},
    problem::Problem,
};
use rfq_explain::Explainer;
use rfq_representation as representation;
use rfq_store::{RfqStatus, Store, StoreError, StoredRfq};
use std::sync::Arc;

/// Settings of the read API.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApiSettings {
    /// How links are written (the producer's are written the same way).
    #[command(flatten)]
    pub links: LinkSettings,
    /// Bounds on live streams.
    #[command(flatten)]
    pub live: live::LiveSettings,
}

#[derive(Clone)]
pub(crate) struct ApiState {
    /// Where the RFQs and their answers are read from.
    store: Arc<dyn Store>,
    /// How links are written.
    settings: ApiSettings,
    /// Live streams.
    live: LiveEvents,
    /// Who is asking.
    auth: Authenticator,
    /// Rebuilds an RFQ's story from the log (`/rfqs/{id}/timeline`).
    explainer: Explainer,
}

/// The routes of the read API and the customer page ([`crate::page`]);
/// live streams wake on `live`'s notices (see [`live::follow`]).
/// Reads need an API key (`auth`): a customer reads only its own RFQs, a
/// partner those addressed to its providers, an operator all
/// ([`crate::access`]).
/// A timeline is told by `explainer` (it reads the log).
pub fn router(
    store: Arc<dyn Store>,
    settings: ApiSettings,
    live: LiveEvents,
    auth: Authenticator,
    explainer: Explainer,
) -> Router {
    routes().into_router().with_state(ApiState {
        store,
        settings,
        live,
        auth,
        explainer,
    })
}

/// What [`router`] serves, (method, path): the list its routes are built
/// with (`tests/it/openapi.rs` compares it with the OpenAPI document).
pub fn served() -> Vec<Served> {
    routes().served().to_vec()
}

/// The routes, before their state.
fn routes() -> Routes<ApiState> {
    Routes::new()
        .merge(crate::page::routes())
        .get("/rfqs/{id}", status)
        .get("/rfqs/{id}/result", result)
        .get("/rfqs/{id}/events", events)
        .get("/rfqs/{id}/timeline", timeline)
        .get("/providers", crate::scorecards::providers)
        .get("/providers/{id}/scorecard", crate::scorecards::scorecard)
}

impl ApiState {
    /// Who a request's key speaks for.
    pub(crate) async fn principal(&self, headers: &HeaderMap) -> Result<Principal, ReadError> {
        self.auth
            .principal(headers, None)
            .await
            .map_err(ReadError::Unauthorized)
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How links are written.
    pub(crate) fn links(&self) -> &LinkSettings {
        &self.settings.links
    }
}

/// Why a read failed.
pub(crate) enum ReadError {
    NotFound(String),
    Store(StoreError),
    Unauthorized(AuthError),
    /// The log (Kafka, the schema registry) could not be read.
    Log(anyhow::Error),
}

impl From<StoreError> for ReadError {
    fn from(error: StoreError) -> Self {
        ReadError::Store(error)
    }
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        match self {
            ReadError::Unauthorized(error) => error.into_response(),
            ReadError::NotFound(id) => Problem::new(
                StatusCode::NOT_FOUND,
                "RFQ Not Found",
                format!("there is no RFQ with id {id:?}"),
            )
            .into_response(),
            ReadError::Store(error) => {
                tracing::error!(%error, "reading the store");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "the result store cannot be read right now",
                )
                .retry_after(1)
                .into_response()
            }
            ReadError::Log(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "reading the log for a timeline"
                );
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "the log cannot be read right now",
                )
                .retry_after(1)
                .into_response()
            }
        }
    }
}

/// The `access_token` query parameter, percent-decoded.
fn access_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, value)| value.into_owned())
}

/// The RFQ a request's path names, read from the store, with its links as
/// the request's `Host` (or the public URL) makes them, and what the
/// asker sees of it.
pub(crate) struct Requested {
    /// The RFQ and its status (whole: narrow it with `view`).
    pub(crate) stored: StoredRfq,
    /// Who asks.
    pub(crate) principal: Principal,
    /// What the asker sees of it.
    pub(crate) view: View,
    /// Its links.
    pub(crate) links: RfqLinks,
    /// The store, for reads beyond the RFQ.
    pub(crate) store: Arc<dyn Store>,
}

impl FromRequestParts<ApiState> for Requested {
    type Rejection = ReadError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ReadError> {
        let id = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| id)
            .unwrap_or_default();
        // The live events route also takes the key as a query parameter
        // (an EventSource sends no headers).
        let query_token = parts
            .uri
            .path()
            .ends_with("/events")
            .then(|| access_token(parts.uri.query()))
            .flatten();
        let principal = state
            .auth
            .principal(&parts.headers, query_token.as_deref())
            .await
            .map_err(ReadError::Unauthorized)?;
        let parsed = CorrelationId::parse(&id).map_err(|_| ReadError::NotFound(id.clone()))?;
        let stored = state.store.rfq(&parsed).await?;
        // An RFQ the asker does not read is not found: ids cannot be probed.
        let (stored, view) = stored
            .and_then(|stored| View::of(&principal, &stored).map(|view| (stored, view)))
            .ok_or(ReadError::NotFound(id))?;
        Ok(Requested {
            links: state.settings.links.rfq(&parts.headers, &stored.rfq.id),
            stored,
            principal,
            view,
            store: state.store.clone(),
        })
    }
}

/// `GET /rfqs/{id}`: running, with the answers so far, or `303` to the
/// result.
async fn status(requested: Requested) -> Result<Response, ReadError> {
    let Requested {
        stored,
        links,
        store,
        view,
        ..
    } = requested;
    // Answers are written before they are counted: none counted, none to
    // read (late ones are listed on the result). A closed RFQ's are read
    // only to count what a narrowed view shows.
    let read = match stored.status {
        RfqStatus::Open => stored.responses_received > 0,
        RfqStatus::Closed { .. } => !view.is_whole() && stored.responses_received > 0,
    };
    let responses = match read {
        true => store.responses(&stored.rfq.id).await?,
        false => Vec::new(),
    };
    let (stored, responses) = view.narrow(stored, responses);
    Ok(match stored.status {
        RfqStatus::Open => Json(representation::running(
            &links,
            &stored.rfq,
            stored.responses_received,
            &responses,
        ))
        .into_response(),
        RfqStatus::Closed { .. } => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, links.result_location())],
            Json(representation::closed_status(&links, &stored)),
        )
            .into_response(),
    })
}

/// `GET /rfqs/{id}/result`: the result, or `409` with the ETA while running.
async fn result(
    Requested {
        stored,
        links,
        store,
        view,
        ..
    }: Requested,
) -> Result<Response, ReadError> {
    Ok(match stored.status {
        RfqStatus::Open => Problem::new(
            StatusCode::CONFLICT,
            "RFQ Still Running",
            format!(
                "the result is available once the RFQ closes, at the latest at {}",
                representation::time(&stored.rfq.deadline)
            ),
        )
        .with("eta", representation::time(&stored.rfq.deadline))
        // The RFQ's links (a member named `status` would clash with the
        // problem's own).
        .with("links", links.json())
        .into_response(),
        RfqStatus::Closed { .. } => {
            let responses = store.responses(&stored.rfq.id).await?;
            let (stored, responses) = view.narrow(stored, responses);
            let shown = representation::result(&links, &stored, &responses);
            Json(view.document(shown)).into_response()
        }
    })
}

/// `GET /rfqs/{id}/events`: the live stream ([`live::events`]).
async fn events(
    requested: Requested,
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Response {
    live::events(requested, state.live, headers).await
}

/// `GET /rfqs/{id}/timeline`: the RFQ's story rebuilt from the log and
/// checked against the store ([`rfq_explain`]).
async fn timeline(
    requested: Requested,
    State(state): State<ApiState>,
) -> Result<Response, ReadError> {
    let explanation = state
        .explainer
        .explain_stored(requested.stored)
        .await
        .map_err(ReadError::Log)?;
    Ok(Json(requested.view.explanation(explanation)).into_response())
}
