//! Confluent's REST API, the part its serializers and
//! `schema_registry_converter` use:
//!
//! - `POST /subjects/{subject}/versions` registers (`{"id"}`),
//!   `POST /subjects/{subject}` looks a schema up;
//! - `GET /schemas/ids/{id}` (and `/schema`, `/subjects`, `/versions`);
//! - `GET /subjects`, `/subjects/{subject}/versions`,
//!   `/subjects/{subject}/versions/{version|latest}` (and `/schema`);
//! - `GET|PUT /config`, `/config/{subject}`;
//! - `POST /compatibility/subjects/{subject}/versions[/{version}]`;
//! - `GET /`, `/schemas/types`, `/mode`.
//!
//! [`router`] serves everyone; [`guarded`] only the operator and partners,
//! each within its rights ([`crate::access`]).
//!
//! Bodies are read as JSON whatever their content type; answers are
//! `application/vnd.schemaregistry.v1+json`; refusals carry Confluent's
//! error codes. Deletes and schema references are refused with 42204.

mod compatibility;

use crate::{
    CONTENT_TYPE, Registry, RegistryError, VersionSpec,
    access::{Access, Caller, guard},
};
use axum::{
    Extension, Router,
    body::Bytes,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use compatibility::{
    check_all, check_version, global_level, set_global_level, set_subject_level, subject_level,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The registry's routes, open to everyone (tests, and a registry behind
/// a gateway of its own).
pub fn router(registry: Registry) -> Router {
    routes().with_state(registry)
}

/// The registry's routes for the operator and partners only (`rfq up`).
pub fn guarded(registry: Registry, access: Access) -> Router {
    routes()
        .route_layer(axum::middleware::from_fn_with_state(access, guard))
        .with_state(registry)
}

/// Who is asking: the guard's answer, or (unguarded) the operator.
fn caller(found: Option<Extension<Caller>>) -> Caller {
    found.map_or(Caller::Operator, |Extension(caller)| caller)
}

fn routes() -> Router<Registry> {
    Router::new()
        .route("/", get(|| async { reply(json!({})) }))
        .route("/schemas/types", get(|| async { reply(json!(["AVRO"])) }))
        .route(
            "/mode",
            get(|| async { reply(json!({"mode": "READWRITE"})) }),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route("/subjects", get(subjects))
        .route(
            "/subjects/{subject}",
            post(lookup).delete(|| async { unsupported("deleting subjects") }),
        )
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(|| async { unsupported("deleting versions") }),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(raw_version),
        )
        .route("/config", get(global_level).put(set_global_level))
        .route(
            "/config/{subject}",
            get(subject_level).put(set_subject_level),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_version),
        )
}

/// A 200 with Confluent's media type.
fn reply(body: Value) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
}

/// A schema's own text as the body (the `/schema` resources).
fn raw(text: &str) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text.to_owned()).into_response()
}

fn unsupported(what: &str) -> Response {
    RegistryError::Unsupported(what.to_owned()).into_response()
}

/// A request carrying a schema (register, look up, check).
#[derive(Deserialize)]
struct SchemaRequest {
    /// The schema, as JSON text.
    schema: String,
    /// AVRO when absent; nothing else is taken.
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    /// Other schemas this one names: not supported.
    #[serde(default)]
    references: Vec<Value>,
}

/// Parses a schema request: Avro only, no references.
fn schema_request(body: &[u8]) -> Result<String, RegistryError> {
    let request: SchemaRequest = serde_json::from_slice(body)
        .map_err(|e| RegistryError::InvalidSchema(format!("the request body: {e}")))?;
    if let Some(kind) = request.schema_type.filter(|kind| kind != "AVRO") {
        return Err(RegistryError::InvalidSchema(format!(
            "schema type {kind}: this registry takes AVRO only"
        )));
    }
    if !request.references.is_empty() {
        return Err(RegistryError::Unsupported("schema references".into()));
    }
    Ok(request.schema)
}

fn id_of(text: &str) -> Result<u32, RegistryError> {
    text.parse()
        .map_err(|_| RegistryError::SchemaNotFound(text.to_owned()))
}

/// A query flag, as Java (`true`) and Python (`True`) write it.
fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

async fn schema_by_id(
    State(r): State<Registry>,
    Path(id): Path<String>,
) -> Result<Response, RegistryError> {
    let state = r.read().await;
    Ok(reply(json!({"schema": state.schema(id_of(&id)?)?})))
}

async fn raw_schema_by_id(
    State(r): State<Registry>,
    Path(id): Path<String>,
) -> Result<Response, RegistryError> {
    Ok(raw(r.read().await.schema(id_of(&id)?)?))
}

/// The subjects (`with_versions`: and versions) holding the schema `id`.
async fn uses_of_id(
    r: &Registry,
    id: &str,
    with_versions: bool,
    caller: &Caller,
) -> Result<Response, RegistryError> {
    let state = r.read().await;
    let id = id_of(id)?;
    state.schema(id)?;
    let uses: Vec<Value> = state
        .uses(id)
        .into_iter()
        .filter(|(subject, _)| caller.holds(subject))
        .map(|(subject, version)| match with_versions {
            true => json!({"subject": subject, "version": version}),
            false => json!(subject),
        })
        .collect();
    Ok(reply(json!(uses)))
}

async fn subjects_of_id(
    State(r): State<Registry>,
    Path(id): Path<String>,
    found: Option<Extension<Caller>>,
) -> Result<Response, RegistryError> {
    uses_of_id(&r, &id, false, &caller(found)).await
}

async fn versions_of_id(
    State(r): State<Registry>,
    Path(id): Path<String>,
    found: Option<Extension<Caller>>,
) -> Result<Response, RegistryError> {
    uses_of_id(&r, &id, true, &caller(found)).await
}

async fn subjects(State(r): State<Registry>, found: Option<Extension<Caller>>) -> Response {
    let caller = caller(found);
    let state = r.read().await;
    let subjects: Vec<&str> = state
        .subjects()
        .into_iter()
        .filter(|subject| caller.holds(subject))
        .collect();
    reply(json!(subjects))
}

async fn versions(
    State(r): State<Registry>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    let state = r.read().await;
    let numbers: Vec<u32> = state
        .versions(&subject)?
        .iter()
        .map(|v| v.version)
        .collect();
    Ok(reply(json!(numbers)))
}

async fn register(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let text = schema_request(&body)?;
    let registered = r.register(&subject, &text).await?;
    tracing::info!(%subject, id = registered.id, version = registered.version, "schema registered");
    Ok(reply(json!({"id": registered.id})))
}

/// The representation of one version of a subject (`schema_only`: the
/// schema's own text, as the `/schema` resources give it).
fn version_reply(
    state: &crate::Schemas,
    subject: &str,
    found: crate::Version,
    schema_only: bool,
) -> Result<Response, RegistryError> {
    let schema = state.schema(found.id)?;
    Ok(if schema_only {
        raw(schema)
    } else {
        reply(
            json!({"subject": subject, "version": found.version, "id": found.id, "schema": schema}),
        )
    })
}

async fn lookup(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, RegistryError> {
    let text = schema_request(&body)?;
    let state = r.read().await;
    let found = state.lookup(&subject, &text)?;
    version_reply(&state, &subject, found, false)
}

/// `GET /subjects/{subject}/versions/{version}` (and its `/schema`).
async fn one_version(
    r: &Registry,
    subject: &str,
    version: &str,
    schema_only: bool,
) -> Result<Response, RegistryError> {
    let state = r.read().await;
    let found = state.version(subject, VersionSpec::parse(version)?)?;
    version_reply(&state, subject, found, schema_only)
}

async fn version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, RegistryError> {
    one_version(&r, &subject, &version, false).await
}

async fn raw_version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, RegistryError> {
    one_version(&r, &subject, &version, true).await
}

#[cfg(test)]
mod tests;
