//! Compatibility: the levels (`GET|PUT /config`, `/config/{subject}`) and
//! the checks against them (`POST /compatibility/subjects/...`).

use super::{flag, reply, schema_request};
use crate::{Level, Registry, RegistryError, VersionSpec, canonical};
use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// `PUT /config` bodies.
#[derive(Deserialize)]
struct LevelRequest {
    /// The level's name.
    compatibility: String,
}

fn level_request(body: &[u8]) -> Result<Level, RegistryError> {
    let request: LevelRequest = serde_json::from_slice(body)
        .map_err(|e| RegistryError::InvalidLevel(format!("the request body: {e}")))?;
    Level::parse(&request.compatibility)
}

pub(super) async fn global_level(State(r): State<Registry>) -> Response {
    reply(json!({"compatibilityLevel": r.read().await.level(None)}))
}

pub(super) async fn set_global_level(
    State(r): State<Registry>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let level = level_request(&body)?;
    r.set_level(None, level).await?;
    Ok(reply(json!({"compatibility": level})))
}

pub(super) async fn subject_level(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RegistryError> {
    let state = r.read().await;
    let level = match state.own_level(&subject) {
        Some(level) => level,
        None if flag(&query, "defaultToGlobal") => state.level(Some(&subject)),
        None => return Err(RegistryError::NoSubjectLevel(subject)),
    };
    Ok(reply(json!({"compatibilityLevel": level})))
}

pub(super) async fn set_subject_level(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let level = level_request(&body)?;
    r.set_level(Some(&subject), level).await?;
    Ok(reply(json!({"compatibility": level})))
}

/// `{"is_compatible": ...}`, with the reason when asked (`verbose`).
async fn check(
    r: &Registry,
    subject: &str,
    against: VersionSpec,
    all_covered: bool,
    body: &[u8],
    verbose: bool,
) -> Result<Response, RegistryError> {
    let (schema, _) = canonical(&schema_request(body)?)?;
    let state = r.read().await;
    if let VersionSpec::Number(_) = against {
        state.version(subject, against)?;
    }
    Ok(match state.check(subject, against, &schema, all_covered) {
        Ok(()) => reply(json!({"is_compatible": true})),
        Err(RegistryError::Incompatible { details, .. }) if verbose => {
            reply(json!({"is_compatible": false, "messages": [details]}))
        }
        Err(RegistryError::Incompatible { .. }) => reply(json!({"is_compatible": false})),
        Err(other) => return Err(other),
    })
}

pub(super) async fn check_all(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    check(
        &r,
        &subject,
        VersionSpec::Latest,
        true,
        &body,
        flag(&query, "verbose"),
    )
    .await
}

pub(super) async fn check_version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let against = VersionSpec::parse(&version)?;
    check(&r, &subject, against, false, &body, flag(&query, "verbose")).await
}
