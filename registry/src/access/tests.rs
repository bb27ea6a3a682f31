use super::*;

fn acme() -> Caller {
    Caller::Partner(rfq_core::PartnerName::parse("acme").expect("valid").door())
}

#[test]
fn partners_keep_to_their_door_and_set_no_level() {
    let own = Some("rfq.door.acme.answers-value");
    let bolts = Some("rfq.door.bolt.answers-value");
    let route = "/subjects/{subject}/versions";
    assert_eq!(refusal(&acme(), &Method::POST, route, own), None);
    assert!(refusal(&acme(), &Method::POST, route, bolts).is_some());
    assert!(refusal(&acme(), &Method::GET, route, Some("rfq.quotes-value")).is_some());
    assert_eq!(
        refusal(&acme(), &Method::GET, "/schemas/ids/{id}", None),
        None
    );
    assert_eq!(refusal(&acme(), &Method::GET, "/config", None), None);
    assert!(refusal(&acme(), &Method::PUT, "/config", None).is_some());
    assert!(refusal(&acme(), &Method::PUT, "/config/{subject}", own).is_some());
    assert_eq!(
        refusal(&Caller::Operator, &Method::PUT, "/config/{subject}", bolts),
        None
    );
}

/// One partner, `acme`, with the registry password `ACME`.
struct Acme;

const ACME: &str = "acme-registry-password-0123";
const OPERATOR_PASSWORD: &str = "operator-password-0123456";

#[async_trait::async_trait]
impl PartnerDirectory for Acme {
    async fn partner(
        &self,
        name: &rfq_core::PartnerName,
    ) -> Result<Option<rfq_core::auth::partners::Partner>, String> {
        let now = chrono::Utc::now();
        Ok(
            (name.as_str() == "acme").then(|| rfq_core::auth::partners::Partner {
                name: name.clone(),
                created_at: now,
                rotated_at: now,
                scram: rfq_core::auth::scram::ScramCredential::derive("k", b"s", 4096).credential,
                registry_digest: ApiKey::parse(ACME).expect("valid").digest(),
                removed: false,
            }),
        )
    }

    async fn partners(&self) -> Result<Vec<rfq_core::auth::partners::Partner>, String> {
        Ok(Vec::new())
    }
}

/// `method path` on a guarded registry as `who`: the status and body.
async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    who: Option<(&str, &str)>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    if let Some((user, password)) = who {
        let encoded = B64.encode(format!("{user}:{password}"));
        request = request.header(header::AUTHORIZATION, format!("Basic {encoded}"));
    }
    let request = request
        .body(axum::body::Body::from(body.to_string()))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn lists_show_a_partner_its_own_subjects_only() {
    let registry = crate::Registry::open(Box::new(crate::MemoryLog::default()))
        .await
        .expect("a registry");
    let password = ApiKey::parse(OPERATOR_PASSWORD).expect("valid");
    let router = crate::guarded(registry, Access::new(&password, Arc::new(Acme)));
    let (operator, acme) = (Some((OPERATOR, OPERATOR_PASSWORD)), Some(("acme", ACME)));
    let schema = serde_json::json!({"schema": r#"{"type":"record","name":"T","fields":[]}"#});
    for (subject, who) in [
        ("rfq.quotes-value", operator),
        ("rfq.door.acme.t-value", acme),
    ] {
        let path = format!("/subjects/{subject}/versions");
        let (status, body) = call(&router, "POST", &path, who, schema.clone()).await;
        assert_eq!((status, body["id"].as_u64()), (200, Some(1)), "{subject}");
    }
    let (_, subjects) = call(
        &router,
        "GET",
        "/schemas/ids/1/subjects",
        acme,
        Default::default(),
    )
    .await;
    assert_eq!(subjects, serde_json::json!(["rfq.door.acme.t-value"]));
    let (_, subjects) = call(
        &router,
        "GET",
        "/schemas/ids/1/subjects",
        operator,
        Default::default(),
    )
    .await;
    assert_eq!(subjects.as_array().map(Vec::len), Some(2));
    let (status, _) = call(&router, "GET", "/schemas/ids/1", acme, Default::default()).await;
    assert_eq!(status, 200);
    // A foreign subject is 403 whether it exists or not.
    for subject in ["rfq.quotes-value", "rfq.door.bolt.none-value"] {
        let path = format!("/subjects/{subject}/versions");
        let (status, _) = call(&router, "GET", &path, acme, Default::default()).await;
        assert_eq!(status, 403, "{subject}");
    }
    let (status, body) = call(
        &router,
        "GET",
        "/subjects",
        Some(("bolt", ACME)),
        Default::default(),
    )
    .await;
    assert_eq!((status, body["error_code"].as_u64()), (401, Some(40101)));
}
