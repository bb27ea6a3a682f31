//! Prometheus: `prometheus/prometheus.yml` scrapes every metrics endpoint
//! the rfq services expose (an unscraped endpoint is a silent gap in the
//! dashboards), and the Prometheus container actually reads that file.

use super::{
    BROKEN, assert_no_problems, bind_mounts, compose, host_path, load_yaml, mentions,
    metrics_endpoints, parse_yaml, repo, rfq_services, scalar, services,
};
use serde_yaml::Value;
use std::collections::BTreeSet;

fn prometheus() -> Value {
    load_yaml(&repo().join("prometheus/prometheus.yml"))
}

// --------------------------------------------------------------- the checks

/// Every `host:port` target in a Prometheus configuration.
fn scrape_targets(prometheus: &Value) -> BTreeSet<String> {
    let mut targets = BTreeSet::new();
    let jobs = prometheus
        .get("scrape_configs")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    for job in &jobs {
        let statics = job
            .get("static_configs")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for config in &statics {
            let list = config
                .get("targets")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            targets.extend(list.iter().filter_map(scalar));
        }
    }
    targets
}

/// Prometheus scrapes every metrics endpoint of every rfq service
/// (producer and api: RFQ_HTTP_ADDR; any service: RFQ_METRICS_ADDR), by
/// compose service name.
fn scrape_problems(compose: &Value, prometheus: &Value) -> Vec<String> {
    let targets = scrape_targets(prometheus);
    let mut problems = Vec::new();
    for (name, service) in rfq_services(compose) {
        let (endpoints, unreachable) = metrics_endpoints(service);
        problems.extend(
            unreachable
                .into_iter()
                .map(|problem| format!("service {name}: {problem}")),
        );
        for (variable, port) in endpoints {
            let target = format!("{name}:{port}");
            if !targets.contains(&target) {
                problems.push(format!(
                    "service {name}: metrics on port {port} ({variable}) but Prometheus does not scrape {target}"
                ));
            }
        }
    }
    problems
}

/// The Prometheus container reads the repository's `prometheus/prometheus.yml`.
fn prometheus_mount_problems(compose: &Value) -> Vec<String> {
    let services = services(compose);
    let Some(prometheus) = services.get("prometheus") else {
        return vec!["no prometheus service".to_owned()];
    };
    let mounts = bind_mounts(prometheus);
    let mounted = host_path(&repo(), &mounts, "/etc/prometheus/prometheus.yml");
    let expected = repo().join("prometheus/prometheus.yml");
    let same = mounted.as_ref().is_some_and(|path| {
        path.canonicalize().ok() == expected.canonicalize().ok() && path.is_file()
    });
    if same {
        Vec::new()
    } else {
        vec![format!(
            "prometheus: /etc/prometheus/prometheus.yml is {mounted:?}, not the repository's prometheus/prometheus.yml"
        )]
    }
}

// -------------------------------------------------------------- the tests

#[test]
fn prometheus_scrapes_every_metrics_endpoint() {
    let compose = compose();
    let mut problems = scrape_problems(&compose, &prometheus());
    problems.extend(prometheus_mount_problems(&compose));
    assert_no_problems("Prometheus scraping", problems);
}

const BROKEN_PROMETHEUS: &str = r#"
scrape_configs:
  - job_name: rfq
    static_configs:
      - targets: ["producer:8080"]
"#;

#[test]
fn scrape_check_reports_unscraped_and_unreachable_endpoints() {
    let problems = scrape_problems(&parse_yaml(BROKEN), &parse_yaml(BROKEN_PROMETHEUS));
    assert!(
        mentions(&problems, &["aggregator", "aggregator:9100"]),
        "{problems:#?}"
    );
    assert!(mentions(&problems, &["api", "loopback"]), "{problems:#?}");
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
