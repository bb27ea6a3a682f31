//! The Docker deliverables, checked without Docker: `docker-compose.yml`,
//! `prometheus/prometheus.yml` and the Grafana provisioning are parsed and
//! held against the real `rfq` command line and the metrics the code
//! registers.
//!
//! Every check is a function returning the problems it found (one line
//! each, naming the service and the culprit); the tests assert the lists
//! are empty for the real files, and a few run a check over a small inline
//! file to show that it does catch what it is meant to catch.
//!
//! This module holds what the checks share: loading and parsing the files,
//! the compose model (services, commands, environments, mounts, metrics
//! endpoints) and the deliberately broken compose file the checks are run
//! against. The checks and their tests live in one file per concern.

mod dependencies;
mod env;
mod grafana;
mod images_ports;
mod prometheus;

use serde_yaml::Value;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Subcommands whose HTTP server (`RFQ_HTTP_ADDR`) serves `/metrics`.
const HTTP_SUBCOMMANDS: &[&str] = &["up", "producer", "api"];

// ------------------------------------------------------------------ loading

/// The repository root (the workspace).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Parses YAML and applies `<<` merge keys, as docker compose does.
fn parse_yaml(text: &str) -> Value {
    let mut value: Value = serde_yaml::from_str(text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn load_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_yaml(&text)
}

fn compose() -> Value {
    load_yaml(&repo().join("docker-compose.yml"))
}

fn assert_no_problems(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

// ------------------------------------------------------------ compose model

/// A scalar as a string (compose accepts numbers and booleans where it
/// means strings).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The services, by name.
fn services(compose: &Value) -> BTreeMap<String, &Value> {
    compose
        .get("services")
        .and_then(Value::as_mapping)
        .map(|services| {
            services
                .iter()
                .filter_map(|(name, service)| Some((scalar(name)?, service)))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits an image reference into (repository, tag, digest).
fn image_parts(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A ':' before the last '/' is a registry port, not a tag.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (
            &name[..last_slash + i],
            Some(&name[last_slash + i + 1..]),
            digest,
        ),
        None => (name, None, digest),
    }
}

/// Our services: built from the repository, or running the `rfq` image.
fn is_rfq(service: &Value) -> bool {
    service.get("build").is_some()
        || service
            .get("image")
            .and_then(Value::as_str)
            .is_some_and(|image| image_parts(image).0 == "rfq")
}

/// The rfq services, by name.
fn rfq_services(compose: &Value) -> BTreeMap<String, &Value> {
    services(compose)
        .into_iter()
        .filter(|(_, service)| is_rfq(service))
        .collect()
}

/// The words of `command:` (string or list).
fn command(service: &Value) -> Vec<String> {
    match service.get("command") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Sequence(words)) => words.iter().filter_map(scalar).collect(),
        _ => Vec::new(),
    }
}

/// The `rfq` subcommand a service runs (the first word of its command).
fn subcommand(service: &Value) -> Option<String> {
    command(service).into_iter().next()
}

/// `environment:` as a map (mapping or list of `KEY=VALUE` / `KEY`).
fn environment(service: &Value) -> BTreeMap<String, Option<String>> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(key, value)| Some((scalar(key)?, scalar(value))))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| match item.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (item.to_owned(), None),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Bind mounts as (host path relative to the repository, container path).
fn bind_mounts(service: &Value) -> Vec<(String, String)> {
    let Some(volumes) = service.get("volumes").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    volumes
        .iter()
        .filter_map(|volume| match volume {
            Value::String(short) => {
                let mut parts = short.split(':');
                let source = parts.next()?;
                let target = parts.next()?;
                // A named volume's source is a bare name.
                (source.starts_with('.') || source.starts_with('/'))
                    .then(|| (source.to_owned(), target.to_owned()))
            }
            Value::Mapping(long) => (long.get("type").and_then(Value::as_str) == Some("bind"))
                .then(|| {
                    (
                        long.get("source").and_then(scalar).unwrap_or_default(),
                        long.get("target").and_then(scalar).unwrap_or_default(),
                    )
                }),
            _ => None,
        })
        .collect()
}

/// The host path that `container_path` shows, through the longest matching
/// bind mount.
fn host_path(root: &Path, mounts: &[(String, String)], container_path: &str) -> Option<PathBuf> {
    let container_path = container_path.trim_end_matches('/');
    mounts
        .iter()
        .filter_map(|(source, target)| {
            let target = target.trim_end_matches('/');
            let rest = container_path.strip_prefix(target)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((target.len(), source, rest))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, source, rest)| {
            root.join(source)
                .join(rest.trim_start_matches('/'))
                .components()
                .collect()
        })
}

/// The metrics endpoints of one rfq service, as (variable, port), and the
/// problems that make an endpoint unreachable.
fn metrics_endpoints(service: &Value) -> (Vec<(&'static str, u16)>, Vec<String>) {
    let env = environment(service);
    let sub = subcommand(service).unwrap_or_default();
    let mut endpoints = Vec::new();
    let mut problems = Vec::new();
    let mut endpoint =
        |variable: &'static str, required: bool| match env.get(variable).cloned().flatten() {
            None if required => problems.push(format!(
                "{variable} is not set: `rfq {sub}` listens on loopback, out of Prometheus' reach"
            )),
            None => {}
            Some(value) => match value.parse::<SocketAddr>() {
                Err(error) => problems.push(format!("{variable}={value}: {error}")),
                Ok(addr) if addr.ip().is_loopback() => problems.push(format!(
                    "{variable}={value} is a loopback address, out of Prometheus' reach"
                )),
                Ok(addr) => endpoints.push((variable, addr.port())),
            },
        };
    if HTTP_SUBCOMMANDS.contains(&sub.as_str()) {
        endpoint("RFQ_HTTP_ADDR", true);
    }
    endpoint("RFQ_METRICS_ADDR", false);
    (endpoints, problems)
}

// ------------------------------------------------- fixtures for the tests

/// A small compose file with one mistake per check.
const BROKEN: &str = r#"
x-rfq: &rfq
  image: rfq:0.1.0
services:
  producer:
    <<: *rfq
    command: producer
    ports: ["8080:8080", "9000:9000"]
    environment:
      RFQ_HTTP_ADDR: 0.0.0.0:8080
      RFQ_NO_SUCH_SETTING: "1"
    healthcheck:
      test: ["CMD", "curl", "-fsS", "http://localhost:8080/health"]
  api:
    <<: *rfq
    command: ["api"]
    ports: ["127.0.0.1:8080:8081", "9001:9000"]
    environment:
      - RFQ_HTTP_ADDR=127.0.0.1:8081
      - RFQ_FLEET_PER_REGION=4
    depends_on: [nowhere]
    healthcheck:
      interval: 5s
  aggregator:
    <<: *rfq
    command: aggregator
    environment:
      RFQ_METRICS_ADDR: 0.0.0.0:9100
  kafka:
    image: apache/kafka
  scylla:
    image: scylladb/scylla:latest
  mirror:
    image: localhost:5000/tools/mirror
"#;

fn mentions(problems: &[String], words: &[&str]) -> bool {
    problems
        .iter()
        .any(|problem| words.iter().all(|word| problem.contains(word)))
}
