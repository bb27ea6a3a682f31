//! Bad input gets a problem document with a 4xx status, never a panic or a 500.

use crate::helpers::*;

const VALID_TO: &str = r#""to":{"lat":52.5,"lon":13.45}"#;

on_both_brokers!(invalid_submissions_and_unknown_ids_get_problem_documents);
async fn invalid_submissions_and_unknown_ids_get_problem_documents(broker: TestBroker) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestPipeline::alpha(&broker, dir.path(), fleet(BERLIN, 1, 0, 0.0)).await;
    let json = "application/json";
    let cases: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "bad JSON",
            r#"{"from": {"lat": 52.5,"#.into(),
            json,
            400,
            "",
        ),
        ("not an object", "[1,2,3]".into(), json, 422, ""),
        (
            "unknown field",
            format!(r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"c","tip":3}}"#),
            json,
            422,
            "tip",
        ),
        (
            "latitude out of range",
            format!(r#"{{"from":{{"lat":91,"lon":13.4}},{VALID_TO},"customer":"c"}}"#),
            json,
            422,
            "from.lat",
        ),
        (
            "longitude out of range",
            r#"{"from":{"lat":52.5,"lon":13.4},"to":{"lat":52.5,"lon":-200},"customer":"c"}"#
                .to_string(),
            json,
            422,
            "to.lon",
        ),
        (
            "empty customer",
            format!(r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"   "}}"#),
            json,
            422,
            "customer",
        ),
        (
            // The customer is the API key's: another one named is refused.
            "another customer than the key's",
            format!(r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"mallory"}}"#),
            json,
            422,
            "customer",
        ),
        (
            "absurd deadline",
            format!(
                r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"c","deadline-seconds":999999}}"#
            ),
            json,
            422,
            "deadline-seconds",
        ),
        (
            "zero deadline",
            format!(
                r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"c","deadline-seconds":0}}"#
            ),
            json,
            422,
            "deadline-seconds",
        ),
        (
            "not JSON content type",
            format!(r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"c"}}"#),
            "application/x-www-form-urlencoded",
            415,
            "",
        ),
        (
            "oversized body",
            format!(
                r#"{{"from":{{"lat":52.5,"lon":13.4}},{VALID_TO},"customer":"{}"}}"#,
                "x".repeat(64 * 1024)
            ),
            json,
            413,
            "",
        ),
    ];
    for (name, body, content_type, status, field) in cases {
        let response = t.post_raw(body, content_type).await;
        assert_eq!(response.status().as_u16(), status, "{name}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status, "{name}");
        assert!(
            !problem["detail"].as_str().unwrap().is_empty(),
            "{name}: {problem}"
        );
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{name}: {problem}");
        }
    }

    for path in [
        "/rfqs/00000000-0000-4000-8000-000000000000",
        "/rfqs/00000000-0000-4000-8000-000000000000/result",
        "/rfqs/not-a-uuid",
        "/nowhere",
    ] {
        let response = t.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let wrong_method = t
        .client
        .delete(format!("{}/rfqs", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    // The server is still healthy after all that.
    let (location, _) = t.submit(BERLIN, 30).await;
    let status = t.get(&location).await.status().as_u16();
    assert!(status == 200 || status == 303, "{status}");
    t.stop().await;
}
