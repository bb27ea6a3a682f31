//! `POST /rfqs`.

use crate::{
    Intake,
    error::IntakeError,
    idempotency::{self, Accepted},
    metrics::{ACCEPT_SECONDS, SUBMISSIONS},
};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use rfq_core::{
    CorrelationId,
    http::{Routes, Served},
};
use std::time::Instant;

/// The routes of the producer: `POST /rfqs`, served by `intake`.
pub(crate) fn router(intake: Intake) -> Router {
    routes()
        .into_router()
        .layer(DefaultBodyLimit::max(intake.settings().max_body_bytes))
        .with_state(intake)
}

/// What the producer's router serves, (method, path): the list its routes
/// are built with (`tests/it/openapi.rs` compares it with the OpenAPI
/// document).
pub fn served() -> Vec<Served> {
    routes().served().to_vec()
}

/// The routes, before their state.
fn routes() -> Routes<Intake> {
    Routes::new().post("/rfqs", submit)
}

fn is_json(headers: &HeaderMap) -> Result<(), IntakeError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(IntakeError::UnsupportedMediaType(content_type.to_owned()))
    }
}

async fn submit(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let _slot = intake.slot()?;
        let customer = intake.authenticator().customer(&headers).await?;
        is_json(&headers)?;
        let body = body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                IntakeError::TooLarge(intake.settings().max_body_bytes)
            } else {
                IntakeError::Malformed(rejection.body_text())
            }
        })?;
        let key = idempotency::key_of(&headers)?;
        let new = intake.parse(&body, &customer)?;
        let now = std::time::Instant::now();
        intake
            .customers()
            .admit(&customer, now)
            .map_err(IntakeError::CustomerLimited)?;
        let deadline = now + new.deadline;
        let accepted = match key {
            Some(key) => intake.accept_once(key, new).await,
            None => Ok(Accepted {
                rfq: intake.accept(new, CorrelationId::new_random()).await?,
                replayed: false,
            }),
        }?;
        if !accepted.replayed {
            intake.customers().opened(&customer, deadline);
        }
        Ok::<_, IntakeError>(accepted)
    }
    .await;
    match result {
        Ok(Accepted { rfq, replayed }) => {
            let outcome = if replayed { "replayed" } else { "accepted" };
            SUBMISSIONS.with_label_values(&[outcome]).inc();
            ACCEPT_SECONDS.observe(started.elapsed().as_secs_f64());
            let links = intake.settings().links.rfq(&headers, &rfq.id);
            let mut shown = rfq_representation::running(&links, &rfq, 0, &[]);
            // Honest: the deadline plus how far behind its aggregator is.
            shown["eta"] = serde_json::json!(rfq_representation::time(&intake.eta(&rfq)));
            (
                StatusCode::ACCEPTED,
                [(header::LOCATION, links.status_location())],
                Json(shown),
            )
                .into_response()
        }
        Err(error) => {
            SUBMISSIONS.with_label_values(&[error.outcome()]).inc();
            if matches!(error, IntakeError::Unavailable(_)) {
                tracing::warn!(%error, "RFQ not accepted");
            }
            error.into_response()
        }
    }
}
