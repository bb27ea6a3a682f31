use crate::representation;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rfq_core::{CorrelationId, http::LinkSettings, problem::Problem};
use rfq_store::{RfqStatus, Store, StoreError, StoredRfq};
use std::sync::Arc;

/// Settings of the read API.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApiSettings {
    /// How links are written (the producer's are written the same way).
    #[command(flatten)]
    pub links: LinkSettings,
}

#[derive(Clone)]
struct ApiState {
    store: Arc<dyn Store>,
    settings: ApiSettings,
}

/// The routes of the read API.
pub fn router(store: Arc<dyn Store>, settings: ApiSettings) -> Router {
    Router::new()
        .route("/rfqs/{id}", get(status))
        .route("/rfqs/{id}/result", get(result))
        .with_state(ApiState { store, settings })
}

/// Why a read failed.
enum ReadError {
    NotFound(String),
    Store(StoreError),
}

impl From<StoreError> for ReadError {
    fn from(error: StoreError) -> Self {
        ReadError::Store(error)
    }
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        match self {
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
        }
    }
}

async fn load(state: &ApiState, id: &str) -> Result<StoredRfq, ReadError> {
    let parsed = CorrelationId::parse(id).map_err(|_| ReadError::NotFound(id.to_owned()))?;
    state
        .store
        .rfq(&parsed)
        .await?
        .ok_or_else(|| ReadError::NotFound(id.to_owned()))
}

async fn status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ReadError> {
    let stored = load(&state, &id).await?;
    let links = state.settings.links.rfq(&headers, &stored.rfq.id);
    Ok(match stored.status {
        RfqStatus::Open => Json(representation::running(
            &links,
            &stored.rfq,
            stored.responses_received,
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

async fn result(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ReadError> {
    let stored = load(&state, &id).await?;
    let links = state.settings.links.rfq(&headers, &stored.rfq.id);
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
        .with("status", links.status())
        .into_response(),
        RfqStatus::Closed { .. } => {
            let responses = state.store.responses(&stored.rfq.id).await?;
            Json(representation::result(&links, &stored, &responses)).into_response()
        }
    })
}
