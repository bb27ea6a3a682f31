//! The crate graph keeps its layers: roles are siblings that meet only on
//! Kafka and the store, and the pure crates at the bottom do no I/O.
//!
//! Read from `cargo metadata --no-deps` (every dependency kind: normal,
//! build and dev), so an edge added to any `Cargo.toml` is caught here,
//! named in the failure message.

use serde_json::Value;
use std::{collections::BTreeMap, process::Command};

/// The roles: each runs on its own (`rfq producer`, `rfq adapter`, …) and
/// talks to the others only through Kafka and the store.
const ROLES: &[&str] = &["rfq-producer", "rfq-adapters", "rfq-aggregator", "rfq-api"];

/// The crates that wire roles together, and may depend on any of them.
const WIRING: &[&str] = &["rfq", "rfq-tests", "rfq-bench"];

/// The crates free of I/O: the domain and the decision rules.
const PURE: &[&str] = &["rfq-domain", "rfq-rules"];

/// What a pure crate may depend on besides other pure crates: values,
/// time, (de)serialization and errors; nothing that talks to a network, a
/// disk or an async runtime.
const PURE_MAY_USE: &[&str] = &["chrono", "serde", "serde_json", "thiserror", "uuid"];

/// Every workspace crate and the names of what it depends on.
fn workspace() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .args(["--manifest-path", manifest])
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    packages
        .iter()
        .map(|package| {
            let name = package["name"].as_str().expect("a package name").to_owned();
            let dependencies = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|dependency| dependency["name"].as_str().expect("a name").to_owned())
                .collect();
            (name, dependencies)
        })
        .collect()
}

/// The edges of `graph` that break the layering, one line each.
fn broken_edges(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut broken = Vec::new();
    for (from, dependencies) in graph {
        for to in dependencies {
            if ROLES.contains(&to.as_str()) && !WIRING.contains(&from.as_str()) {
                let why = if ROLES.contains(&from.as_str()) {
                    "a role depends on another role (roles meet only on Kafka and the store: \
                     move what they share into a shared crate)"
                } else {
                    "a shared crate depends on a role (only rfq, the tests and the bench wire roles)"
                };
                broken.push(format!("{from} -> {to}: {why}"));
            }
            if PURE.contains(&from.as_str())
                && !PURE.contains(&to.as_str())
                && !PURE_MAY_USE.contains(&to.as_str())
            {
                broken.push(format!(
                    "{from} -> {to}: a pure crate depends on a crate that may do I/O \
                     (pure crates use only {PURE_MAY_USE:?} and each other)"
                ));
            }
        }
    }
    broken
}

#[test]
fn roles_are_siblings_and_pure_crates_do_no_io() {
    let graph = workspace();
    for name in ROLES.iter().chain(WIRING).chain(PURE) {
        assert!(
            graph.contains_key(*name),
            "{name} is not in the workspace: update tests/it/layering.rs"
        );
    }
    let broken = broken_edges(&graph);
    assert!(
        broken.is_empty(),
        "the crate graph breaks its layers:\n{}",
        broken.join("\n")
    );
}

/// The check itself catches what it is for.
#[test]
fn layering_names_a_broken_edge() {
    let mut graph = BTreeMap::new();
    graph.insert("rfq-api".to_owned(), vec!["rfq-aggregator".to_owned()]);
    graph.insert(
        "rfq-rules".to_owned(),
        vec!["tokio".to_owned(), "chrono".to_owned()],
    );
    graph.insert("rfq".to_owned(), vec!["rfq-api".to_owned()]);
    let broken = broken_edges(&graph);
    assert_eq!(broken.len(), 2, "{broken:#?}");
    assert!(
        broken[0].starts_with("rfq-api -> rfq-aggregator: a role"),
        "{broken:#?}"
    );
    assert!(
        broken[1].starts_with("rfq-rules -> tokio: a pure crate"),
        "{broken:#?}"
    );
}
