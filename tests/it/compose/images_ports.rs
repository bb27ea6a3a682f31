//! Images and published ports: every service names a pinned image (so a
//! `docker compose up` next month runs what was tested), the rfq services
//! share one image, and no host port is published twice (the second
//! service would fail to start).

use super::{
    BROKEN, assert_no_problems, compose, image_parts, mentions, parse_yaml, rfq_services, scalar,
    services,
};
use serde_yaml::Value;
use std::collections::BTreeSet;

// --------------------------------------------------------------- the checks

/// Every service names an image with an explicit version (a tag other than
/// `latest`, or a digest).
fn pinning_problems(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in services(compose) {
        let Some(image) = service.get("image").and_then(Value::as_str) else {
            problems.push(format!("service {name}: no `image:` (unnamed, unpinned)"));
            continue;
        };
        match image_parts(image) {
            (_, _, Some(_)) => {}
            (_, None, None) => problems.push(format!(
                "service {name}: image {image} has no tag (means latest)"
            )),
            (_, Some("latest"), None) => {
                problems.push(format!("service {name}: image {image} is not pinned"))
            }
            (_, Some(_), None) => {}
        }
    }
    // One rfq image for all rfq services.
    let rfq_images: BTreeSet<String> = rfq_services(compose)
        .values()
        .filter_map(|service| service.get("image").and_then(scalar))
        .collect();
    if rfq_images.len() > 1 {
        problems.push(format!("rfq services use different images: {rfq_images:?}"));
    }
    problems
}

/// A published host port: (host ip, port, protocol).
type Published = (Option<String>, u16, String);

/// `a-b` or `a` as a list of ports.
fn port_range(text: &str) -> Option<Vec<u16>> {
    match text.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (from.parse::<u16>().ok()?, to.parse::<u16>().ok()?);
            Some((from..=to).collect())
        }
        None => Some(vec![text.parse().ok()?]),
    }
}

/// The host ports one `ports:` entry publishes (short or long syntax).
fn published(entry: &Value) -> Result<Vec<Published>, String> {
    let (ip, host, protocol) = match entry {
        // A bare container port publishes an ephemeral host port.
        Value::Number(_) => return Ok(Vec::new()),
        Value::String(short) => {
            let (spec, protocol) = short.split_once('/').unwrap_or((short.as_str(), "tcp"));
            // "[::1]:8080:80" — an IPv6 host ip in brackets.
            let (ip, rest) = match spec.strip_prefix('[') {
                Some(bracketed) => {
                    let (ip, rest) = bracketed
                        .split_once("]:")
                        .ok_or_else(|| format!("cannot parse port {short:?}"))?;
                    (Some(ip.to_owned()), rest)
                }
                None => (None, spec),
            };
            let parts: Vec<&str> = rest.split(':').collect();
            let (ip, host) = match (ip, parts.as_slice()) {
                (None, [_container]) => return Ok(Vec::new()),
                (None, [host, _container]) => (None, *host),
                (None, [ip, host, _container]) => (Some((*ip).to_owned()), *host),
                (Some(ip), [host, _container]) => (Some(ip), *host),
                _ => return Err(format!("cannot parse port {short:?}")),
            };
            (ip, host.to_owned(), protocol.to_owned())
        }
        Value::Mapping(long) => {
            let Some(host) = long.get("published").and_then(scalar) else {
                return Ok(Vec::new());
            };
            let ip = long.get("host_ip").and_then(scalar);
            let protocol = long
                .get("protocol")
                .and_then(scalar)
                .unwrap_or_else(|| "tcp".to_owned());
            (ip, host, protocol)
        }
        other => return Err(format!("cannot parse port {other:?}")),
    };
    if host.is_empty() {
        return Ok(Vec::new()); // "127.0.0.1::80": ephemeral host port
    }
    let ports = port_range(&host).ok_or_else(|| format!("cannot parse host port {host:?}"))?;
    Ok(ports
        .into_iter()
        .map(|port| (ip.clone(), port, protocol.clone()))
        .collect())
}

/// No host port is published twice (an unspecified host ip clashes with
/// every ip).
fn port_problems(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: Vec<(String, Published)> = Vec::new();
    let wildcard = |ip: &Option<String>| {
        ip.as_deref()
            .is_none_or(|ip| ip == "0.0.0.0" || ip == "::" || ip.is_empty())
    };
    for (name, service) in services(compose) {
        let entries = service
            .get("ports")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for entry in &entries {
            let ports = match published(entry) {
                Ok(ports) => ports,
                Err(error) => {
                    problems.push(format!("service {name}: {error}"));
                    continue;
                }
            };
            for port in ports {
                let (ip, number, protocol) = &port;
                for (other, (other_ip, other_number, other_protocol)) in &seen {
                    if number == other_number
                        && protocol == other_protocol
                        && (wildcard(ip) || wildcard(other_ip) || ip == other_ip)
                    {
                        problems.push(format!(
                            "host port {number}/{protocol} is published by both {other} and {name}"
                        ));
                    }
                }
                seen.push((name.clone(), port));
            }
        }
    }
    problems
}

/// The version of `artifact` pinned in the test servers' Maven project
/// (`tests/servers/pom.xml`, property `<artifact>.version`).
fn tested_version(artifact: &str) -> String {
    let pom = std::fs::read_to_string(super::repo().join("tests/servers/pom.xml")).unwrap();
    let open = format!("<{artifact}.version>");
    let start = pom.find(&open).expect("version property in pom.xml") + open.len();
    let end = start + pom[start..].find('<').unwrap();
    pom[start..end].trim().to_owned()
}

/// The compose stack runs the Kafka the tests ran (`apache/kafka` at the
/// version `tests/run` starts from Maven Central).
fn kafka_version_problems(compose: &Value, tested: &str) -> Vec<String> {
    let images: Vec<String> = services(compose)
        .values()
        .filter_map(|service| service.get("image").and_then(scalar))
        .filter(|image| image_parts(image).0 == "apache/kafka")
        .collect();
    if images.is_empty() {
        return vec!["no apache/kafka service".into()];
    }
    images
        .into_iter()
        .filter(|image| image_parts(image).1 != Some(tested))
        .map(|image| format!("{image} is not the Kafka the tests ran ({tested})"))
        .collect()
}

// -------------------------------------------------------------- the tests

#[test]
fn compose_runs_the_kafka_version_the_tests_ran() {
    let tested = tested_version("kafka");
    assert_no_problems("Kafka version", kafka_version_problems(&compose(), &tested));
    let other = kafka_version_problems(
        &parse_yaml("services: {kafka: {image: 'apache/kafka:3.9.0'}}"),
        &tested,
    );
    assert!(mentions(&other, &["3.9.0", &tested]), "{other:#?}");
}

#[test]
fn compose_images_are_pinned() {
    assert_no_problems("image pinning", pinning_problems(&compose()));
}

#[test]
fn compose_publishes_no_host_port_twice() {
    assert_no_problems("published ports", port_problems(&compose()));
}

#[test]
fn pinning_check_reports_missing_and_latest_tags() {
    let problems = pinning_problems(&parse_yaml(BROKEN));
    assert!(mentions(&problems, &["kafka", "no tag"]), "{problems:#?}");
    assert!(
        mentions(&problems, &["scylla", "not pinned"]),
        "{problems:#?}"
    );
    // The registry's port is not a tag.
    assert!(mentions(&problems, &["mirror", "no tag"]), "{problems:#?}");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!(
        image_parts("localhost:5000/a/b:1.2@sha256:00"),
        ("localhost:5000/a/b", Some("1.2"), Some("sha256:00"))
    );
}

#[test]
fn port_check_reports_a_port_published_twice() {
    let problems = port_problems(&parse_yaml(BROKEN));
    // 8080 twice (loopback vs all interfaces); 9000 and 9001 are different
    // host ports of the same container port.
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        mentions(&problems, &["8080/tcp", "producer", "api"]),
        "{problems:#?}"
    );
    let long = port_problems(&parse_yaml(
        "services: {a: {ports: [{target: 80, published: '7000-7002'}]}, b: {ports: ['7002:80/tcp', '7002:80/udp']}}",
    ));
    assert_eq!(long.len(), 1, "{long:#?}");
}
