use super::*;
use crate::MemoryLog;
use axum::{body::Body, http::Request};
use tower::ServiceExt as _;

const SCHEMA: &str = r#"{"type":"record","name":"T","fields":[{"name":"a","type":"long"}]}"#;

async fn call(registry: &Registry, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(registry.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(kind, CONTENT_TYPE, "{method} {path}");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn register_read_and_refuse_in_confluents_words() {
    let registry = Registry::open(Box::new(MemoryLog::default()))
        .await
        .unwrap();
    let body = json!({"schema": SCHEMA});
    let (status, id) = call(
        &registry,
        "POST",
        "/subjects/t-value/versions",
        body.clone(),
    )
    .await;
    assert_eq!((status, id["id"].as_u64()), (200, Some(1)));
    let (_, found) = call(
        &registry,
        "POST",
        "/subjects/t-value?normalize=False&deleted=False",
        body,
    )
    .await;
    assert_eq!(found["version"], 1);
    let (_, latest) = call(
        &registry,
        "GET",
        "/subjects/t-value/versions/latest",
        Value::Null,
    )
    .await;
    assert_eq!(
        (latest["id"].as_u64(), latest["subject"].as_str()),
        (Some(1), Some("t-value"))
    );
    let (status, error) = call(&registry, "GET", "/schemas/ids/9", Value::Null).await;
    assert_eq!((status, error["error_code"].as_u64()), (404, Some(40403)));
    let (status, error) = call(
        &registry,
        "GET",
        "/subjects/t-value/versions/x",
        Value::Null,
    )
    .await;
    assert_eq!((status, error["error_code"].as_u64()), (422, Some(42202)));
    let (status, error) = call(&registry, "GET", "/config/t-value", Value::Null).await;
    assert_eq!((status, error["error_code"].as_u64()), (404, Some(40408)));
    let (_, level) = call(
        &registry,
        "GET",
        "/config/t-value?defaultToGlobal=true",
        Value::Null,
    )
    .await;
    assert_eq!(level["compatibilityLevel"], "BACKWARD");
    let (status, _) = call(
        &registry,
        "PUT",
        "/config",
        json!({"compatibility": "SIDEWAYS"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(&registry, "DELETE", "/subjects/t-value", Value::Null).await;
    assert_eq!(status, 422, "deletes are refused, not pretended");
    let breaking = json!({"schema": r#"{"type":"record","name":"T","fields":[{"name":"a","type":"long"},{"name":"b","type":"int"}]}"#});
    let (_, verdict) = call(
        &registry,
        "POST",
        "/compatibility/subjects/t-value/versions/latest?verbose=True",
        breaking.clone(),
    )
    .await;
    assert_eq!(verdict["is_compatible"], false);
    assert!(
        verdict["messages"][0].as_str().unwrap().contains('b'),
        "{verdict}"
    );
    let (status, error) = call(&registry, "POST", "/subjects/t-value/versions", breaking).await;
    assert_eq!((status, error["error_code"].as_u64()), (409, Some(409)));
}
