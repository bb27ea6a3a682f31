use super::*;

/// The declared defaults: 300 s, at most 3600 s.
fn limits() -> Limits {
    rfq_core::settings::defaults()
}

/// Parses as the customer the body names (or `c`), as its API key
/// would say.
fn parse(bytes: &[u8], limits: Limits) -> Result<NewRfq, IntakeError> {
    let named = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|body| body["customer"].as_str().map(str::to_owned))
        .filter(|name| CustomerId::parse(name).is_ok())
        .unwrap_or_else(|| "c".to_owned());
    super::parse(bytes, limits, &CustomerId::parse(&named).unwrap())
}

#[test]
fn the_customer_is_the_api_keys() {
    let alice = CustomerId::parse("alice").unwrap();
    let body = |customer: &str| {
        format!(r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}}{customer}}}"#)
    };
    let parsed = super::parse(body("").as_bytes(), limits(), &alice).unwrap();
    assert_eq!(parsed.customer, alice, "left out: the key's");
    let same = super::parse(body(r#","customer":"alice""#).as_bytes(), limits(), &alice);
    assert_eq!(same.unwrap().customer, alice);
    match super::parse(
        body(r#","customer":"mallory""#).as_bytes(),
        limits(),
        &alice,
    ) {
        Err(IntakeError::Invalid(error)) => {
            assert_eq!(error.field, "customer");
            assert!(error.message.contains("alice"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
}

fn field_of(body: &str) -> String {
    match parse(body.as_bytes(), limits()) {
        Err(IntakeError::Invalid(error)) => error.field,
        other => panic!("expected Invalid for {body}, got {other:?}"),
    }
}

#[test]
fn valid_body_with_default_and_custom_deadline() {
    let body =
        r#"{"from":{"lat":52.52,"lon":13.40},"to":{"lat":52.5,"lon":13.45},"customer":"alice"}"#;
    let rfq = parse(body.as_bytes(), limits()).unwrap();
    assert_eq!(rfq.deadline, Duration::from_secs(300));
    assert_eq!(rfq.completion, CompletionRequest::All);
    assert_eq!(rfq.customer.as_str(), "alice");
    let body =
        r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"customer":"b","deadline-seconds":20}"#;
    assert_eq!(
        parse(body.as_bytes(), limits()).unwrap().deadline,
        Duration::from_secs(20)
    );
    // Whole numbers written with a fraction are integers (as in JSON
    // Schema); null is left out.
    let body = r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"deadline-seconds":20.0,
        "completion":{"rule":"first-n","n":2.0},"customer":null}"#;
    let rfq = parse(body.as_bytes(), limits()).unwrap();
    assert_eq!(rfq.deadline, Duration::from_secs(20));
    assert_eq!(rfq.completion, CompletionRequest::FirstN(2));
    let body = r#"{"from":{"lat":0,"lon":0},"to":{"lat":1,"lon":1},"deadline-seconds":null,
        "completion":{"rule":"quorum","n":null}}"#;
    let rfq = parse(body.as_bytes(), limits()).unwrap();
    assert_eq!(rfq.deadline, Duration::from_secs(300));
    assert_eq!(rfq.completion, CompletionRequest::Quorum(None));
    for fraction in [r#""deadline-seconds":2.5"#, r#""deadline-seconds":"2""#] {
        let body = format!(r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}},{fraction}}}"#);
        assert_eq!(field_of(&body), "deadline-seconds", "{body}");
    }
}

#[test]
fn completion_rules_are_parsed_and_quorum_defaults_to_a_majority() {
    use rfq_core::Completion;
    let rule = |completion: &str| {
        let body = format!(
            r#"{{"from":{{"lat":0,"lon":0}},"to":{{"lat":1,"lon":1}},"customer":"c","completion":{completion}}}"#
        );
        parse(body.as_bytes(), limits()).unwrap().completion
    };
    assert_eq!(rule(r#"{"rule":"all"}"#).resolve(3), Completion::All);
    assert_eq!(
        rule(r#"{"rule":"first-n","n":2}"#).resolve(3),
        Completion::FirstN(2)
    );
    assert_eq!(
        rule(r#"{"rule":"quorum"}"#).resolve(4),
        Completion::Quorum(3)
    );
    assert_eq!(
        rule(r#"{"rule":"quorum","n":1}"#).resolve(4),
        Completion::Quorum(1)
    );
    assert_eq!(
        rule(r#"{"rule":"deadline"}"#).resolve(4),
        Completion::Deadline
    );
    let Completion::Quality(price) =
        rule(r#"{"rule":"quality","max-price":"15.5","currency":"EUR"}"#).resolve(4)
    else {
        panic!("not quality")
    };
    assert_eq!(price.to_string(), "15.50 EUR");
}

#[test]
fn syntax_errors_are_malformed() {
    assert!(matches!(
        parse(b"{\"from\":", limits()),
        Err(IntakeError::Malformed(_))
    ));
    assert!(matches!(
        parse(b"", limits()),
        Err(IntakeError::Malformed(_))
    ));
}

#[test]
fn each_invalid_field_is_named() {
    let to = r#""to":{"lat":1,"lon":1}"#;
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":91,"lon":0}},{to},"customer":"c"}}"#
        )),
        "from.lat"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":0,"lon":-181}},{to},"customer":"c"}}"#
        )),
        "from.lon"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"  "}}"#
        )),
        "customer"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","deadline-seconds":0}}"#
        )),
        "deadline-seconds"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","deadline-seconds":86400}}"#
        )),
        "deadline-seconds"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","tip":5}}"#
        )),
        "tip"
    );
    assert_eq!(
        field_of(&format!(
            r#"{{"from":{{"lat":"x","lon":0}},{to},"customer":"c"}}"#
        )),
        "from.lat"
    );
    assert_eq!(field_of(&format!(r#"{{{to},"customer":"c"}}"#)), "");
    let with = |completion: &str| {
        format!(r#"{{"from":{{"lat":0,"lon":0}},{to},"customer":"c","completion":{completion}}}"#)
    };
    assert_eq!(
        field_of(&with(r#"{"rule":"first-n","n":0}"#)),
        "completion.n"
    );
    assert_eq!(
        field_of(&with(r#"{"rule":"quorum","n":-2}"#)),
        "completion.n"
    );
    assert_eq!(
        field_of(&with(
            r#"{"rule":"quality","max-price":"1.234","currency":"EUR"}"#
        )),
        "completion.max-price"
    );
    assert_eq!(
        field_of(&with(
            r#"{"rule":"quality","max-price":"12","currency":"euro"}"#
        )),
        "completion.currency"
    );
    assert!(field_of(&with(r#"{"rule":"best"}"#)).starts_with("completion"));
    assert!(field_of(&with(r#"{"rule":"all","n":2}"#)).starts_with("completion"));
    assert_eq!(field_of("[1,2]"), "");
}
