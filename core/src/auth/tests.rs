use super::*;

const ALICE_KEY: &str = "alice-key-0123456789";

fn bearer(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    headers
}

fn alice() -> Principal {
    Principal::Customer(CustomerId::parse("alice").unwrap())
}

/// A directory holding bob's key, counting its reads.
struct Directory {
    bob: KeyDigest,
    reads: Mutex<u32>,
}

#[async_trait::async_trait]
impl KeyDirectory for Directory {
    async fn principal_of(&self, digest: &KeyDigest) -> Result<Option<Principal>, String> {
        *self.reads.lock().unwrap() += 1;
        Ok((digest == &self.bob).then(|| Principal::Customer(CustomerId::parse("bob").unwrap())))
    }
}

#[tokio::test]
async fn keys_name_their_customer_from_the_settings_or_the_directory() {
    let settings = AuthSettings {
        api_keys: vec![format!("alice:{ALICE_KEY}")],
        api_keys_file: None,
    };
    let bob = ApiKey::generate();
    let directory = Arc::new(Directory {
        bob: bob.digest(),
        reads: Mutex::new(0),
    });
    let auth = Authenticator::new(settings.configured().unwrap(), Some(directory.clone()));
    assert_eq!(auth.principal(&bearer(ALICE_KEY), None).await, Ok(alice()));
    assert_eq!(
        auth.principal(&bearer(bob.expose()), None)
            .await
            .unwrap()
            .name(),
        "bob"
    );
    assert_eq!(
        auth.principal(&HeaderMap::new(), Some(ALICE_KEY)).await,
        Ok(alice()),
        "the query parameter where no header is sent"
    );
    assert_eq!(
        auth.principal(&HeaderMap::new(), None).await,
        Err(AuthError::Missing)
    );
    let unknown = ApiKey::generate();
    for _ in 0..3 {
        assert_eq!(
            auth.principal(&bearer(unknown.expose()), None).await,
            Err(AuthError::Invalid)
        );
    }
    let mut basic = HeaderMap::new();
    basic.insert(header::AUTHORIZATION, "Basic YWxpY2U6eA==".parse().unwrap());
    assert_eq!(auth.principal(&basic, None).await, Err(AuthError::Invalid));
    assert_eq!(
        auth.principal(&bearer("short"), None).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(
        *directory.reads.lock().unwrap(),
        2,
        "bob once, the unknown key once (remembered)"
    );
}

#[test]
fn a_key_is_never_printed_and_settings_errors_do_not_show_it() {
    let key = ApiKey::parse(ALICE_KEY).unwrap();
    assert_eq!(format!("{key:?}"), "ApiKey(…)");
    assert_eq!(key.digest(), ApiKey::parse(ALICE_KEY).unwrap().digest());
    assert_eq!(key.digest().as_str().len(), 64);
    assert!(ApiKey::generate().expose().starts_with("rfq_"));
    assert_ne!(ApiKey::generate(), ApiKey::generate());
    let bad = AuthSettings {
        api_keys: vec!["alice-without-a-key".into()],
        api_keys_file: None,
    };
    let error = format!("{:#}", bad.configured().unwrap_err());
    assert!(error.contains("entry 1"), "{error}");
    let secret = "not a valid key because spaces";
    let bad = AuthSettings {
        api_keys: vec![format!("alice:{secret}")],
        api_keys_file: None,
    };
    let error = format!("{:#}", bad.configured().unwrap_err());
    assert!(!error.contains(secret), "{error}");
}

#[test]
fn a_keys_file_has_a_pair_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    std::fs::write(
        &path,
        format!("# customers\nalice {ALICE_KEY}\n\nbob   bob-key-0123456789abc  # the second\n"),
    )
    .unwrap();
    let settings = AuthSettings {
        api_keys: Vec::new(),
        api_keys_file: Some(path.clone()),
    };
    let keys = settings.configured().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[&ApiKey::parse(ALICE_KEY).unwrap().digest()], alice());
    std::fs::write(&path, "alice\n").unwrap();
    let error = format!("{:#}", settings.configured().unwrap_err());
    assert!(error.contains("line 1"), "{error}");
}

#[test]
fn refusals_are_problems_with_a_challenge() {
    let response = AuthError::Invalid.into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"rfq\", error=\"invalid_token\""
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        crate::problem::PROBLEM_JSON
    );
    let response = AuthError::Missing.into_response();
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"rfq\""
    );
    let response = AuthError::Unavailable("down".into()).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn settings_name_roles_and_only_customers_post() {
    let settings = AuthSettings {
        api_keys: vec![
            format!("alice:{ALICE_KEY}"),
            "partner:acme:acme-key-0123456789".into(),
            "operator:ops:ops-key-0123456789ab".into(),
            "customer:carol:carol-key-0123456789".into(),
        ],
        api_keys_file: None,
    };
    let auth = Authenticator::new(settings.configured().unwrap(), None);
    let acme = auth.principal(&bearer("acme-key-0123456789"), None).await;
    assert_eq!(
        acme,
        Ok(Principal::Partner(
            crate::PartnerName::parse("acme").unwrap()
        ))
    );
    let ops = auth.principal(&bearer("ops-key-0123456789ab"), None).await;
    assert_eq!(ops.map(|p| p.to_string()).as_deref(), Ok("operator ops"));
    let carol = auth.customer(&bearer("carol-key-0123456789")).await;
    assert_eq!(carol.map(|c| c.to_string()).as_deref(), Ok("carol"));
    assert_eq!(
        auth.customer(&bearer(ALICE_KEY))
            .await
            .map(|c| c.to_string()),
        Ok("alice".to_owned())
    );
    for key in ["acme-key-0123456789", "ops-key-0123456789ab"] {
        let refused = auth.customer(&bearer(key)).await;
        assert!(
            matches!(refused, Err(AuthError::Forbidden(_))),
            "{refused:?}"
        );
        let response = refused.unwrap_err().into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
    }
    let bad = AuthSettings {
        api_keys: vec!["partner:Not-A-Name:acme-key-0123456789".into()],
        api_keys_file: None,
    };
    assert!(bad.configured().is_err());
}

#[test]
fn roles_read_scorecards_by_the_partner_rule() {
    let provider = |id: &str| crate::ProviderId::parse(id).unwrap();
    let acme = Principal::parse("partner:acme").unwrap();
    assert!(acme.reads_scorecard_of(&provider("acme-car-1")));
    assert!(!acme.reads_scorecard_of(&provider("bolt-car-1")));
    let ops = Principal::parse("operator:ops").unwrap();
    assert!(ops.reads_scorecard_of(&provider("bolt-car-1")));
    let alice = Principal::parse("alice").unwrap();
    assert_eq!(alice.role(), Role::Customer);
    assert!(!alice.reads_scorecard_of(&provider("acme-car-1")));
    assert_eq!(Role::parse(None), Ok(Role::Customer));
    assert_eq!(Role::parse(Some("partner")), Ok(Role::Partner));
    assert!(Role::parse(Some("admin")).is_err());
    assert_eq!(
        Principal::of(Role::Operator, "ops").unwrap().to_string(),
        "operator ops"
    );
}
