//! Start-up order and health: `depends_on` names real services with
//! conditions compose can meet, every rfq service waits for the migration
//! (topics and schema) to complete, and every long-running rfq service has
//! a health check probing `/health` on a port it serves.

use super::{
    BROKEN, assert_no_problems, compose, mentions, metrics_endpoints, parse_yaml, rfq_services,
    scalar, services, subcommand,
};
use serde_yaml::Value;

/// The subcommand that creates topics and schema, run once before the others.
const MIGRATE: &str = "migrate";

/// `depends_on:` as (service, condition); the short list form means
/// `service_started`.
fn depends_on(service: &Value) -> Vec<(String, String)> {
    match service.get("depends_on") {
        Some(Value::Sequence(names)) => names
            .iter()
            .filter_map(scalar)
            .map(|name| (name, "service_started".to_owned()))
            .collect(),
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(name, spec)| {
                let condition = spec
                    .get("condition")
                    .and_then(scalar)
                    .unwrap_or_else(|| "service_started".to_owned());
                Some((scalar(name)?, condition))
            })
            .collect(),
        _ => Vec::new(),
    }
}

// --------------------------------------------------------------- the checks

/// `depends_on` names existing services with valid conditions; every rfq
/// service but the migration waits for the migration to complete.
fn dependency_problems(compose: &Value) -> Vec<String> {
    let services = services(compose);
    let mut problems = Vec::new();
    let migrations: Vec<String> = rfq_services(compose)
        .into_iter()
        .filter(|(_, service)| subcommand(service).as_deref() == Some(MIGRATE))
        .map(|(name, _)| name)
        .collect();
    for (name, service) in &services {
        for (dependency, condition) in depends_on(service) {
            let Some(target) = services.get(&dependency) else {
                problems.push(format!(
                    "service {name}: depends on {dependency}, which is not a service"
                ));
                continue;
            };
            match condition.as_str() {
                "service_started" | "service_completed_successfully" => {}
                "service_healthy" if target.get("healthcheck").is_some() => {}
                "service_healthy" => problems.push(format!(
                    "service {name}: waits for {dependency} to be healthy, but it has no healthcheck"
                )),
                other => problems.push(format!(
                    "service {name}: unknown depends_on condition {other} for {dependency}"
                )),
            }
        }
    }
    for (name, service) in rfq_services(compose) {
        if subcommand(service).as_deref() == Some(MIGRATE) {
            continue;
        }
        for migration in &migrations {
            let waits = depends_on(service).iter().any(|(dependency, condition)| {
                dependency == migration && condition == "service_completed_successfully"
            });
            if !waits {
                problems.push(format!(
                    "service {name}: does not wait for {migration} (condition: service_completed_successfully)"
                ));
            }
        }
    }
    problems
}

/// Every healthcheck has a test; every long-running rfq service has one,
/// probing `/health` on a port it serves.
fn healthcheck_problems(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(compose) {
        let Some(check) = service.get("healthcheck") else {
            continue;
        };
        let disabled = check.get("disable").and_then(Value::as_bool) == Some(true);
        let has_test = match check.get("test") {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Sequence(words)) => !words.is_empty(),
            _ => false,
        };
        if !disabled && !has_test {
            problems.push(format!("service {name}: healthcheck without a test"));
        }
    }
    for (name, service) in rfq_services(compose) {
        if subcommand(service).as_deref() == Some(MIGRATE) {
            continue;
        }
        let Some(test) = service
            .get("healthcheck")
            .and_then(|check| check.get("test"))
        else {
            problems.push(format!("service {name}: no healthcheck"));
            continue;
        };
        let words: Vec<String> = match test {
            Value::Sequence(words) => words.iter().filter_map(scalar).collect(),
            Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let (endpoints, _) = metrics_endpoints(service);
        let probes_health = words.iter().any(|word| {
            endpoints.iter().any(|(_, port)| {
                word == &format!("http://localhost:{port}/health")
                    || word == &format!("http://127.0.0.1:{port}/health")
            })
        });
        if !probes_health {
            problems.push(format!(
                "service {name}: healthcheck {words:?} does not probe /health on a port it serves ({endpoints:?})"
            ));
        }
    }
    problems
}

// -------------------------------------------------------------- the tests

#[test]
fn compose_dependencies_exist_and_wait_for_the_migration() {
    assert_no_problems("depends_on", dependency_problems(&compose()));
}

#[test]
fn compose_healthchecks_have_tests() {
    assert_no_problems("health checks", healthcheck_problems(&compose()));
}

#[test]
fn dependency_and_healthcheck_checks_report_mistakes() {
    let compose = parse_yaml(BROKEN);
    let problems = dependency_problems(&compose);
    assert!(mentions(&problems, &["api", "nowhere"]), "{problems:#?}");
    let problems = healthcheck_problems(&compose);
    assert!(
        mentions(&problems, &["api", "without a test"]),
        "{problems:#?}"
    );
    assert!(
        mentions(&problems, &["aggregator", "no healthcheck"]),
        "{problems:#?}"
    );
}
