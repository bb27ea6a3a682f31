//! Grafana: the provisioning reaches the container through its bind
//! mounts, and the dashboards use only provisioned datasources and metric
//! names the code registers (a renamed metric otherwise leaves an empty
//! panel and no error).

use super::{
    assert_no_problems, bind_mounts, compose, environment, host_path, image_parts, load_yaml,
    mentions, parse_yaml, repo, scalar, services,
};
use serde_yaml::Value;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

// --------------------------------------------------------------- the checks

/// Names of the metrics the code registers: every string literal of the
/// form `"rfq_[a-z0-9_]+"` in the workspace's sources.
fn registered_metrics(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for member in std::fs::read_dir(root).unwrap().flatten() {
        let src = member.path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (start, _) in text.match_indices("\"rfq_") {
            let name: String = text[start + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if text[start + 1 + name.len()..].starts_with('"') {
                names.insert(name);
            }
        }
    }
    names
}

/// Metric names (`rfq_…` identifiers) in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    for (start, _) in expr.match_indices("rfq_") {
        let boundary = start == 0 || {
            let before = bytes[start - 1];
            !(before.is_ascii_alphanumeric() || before == b'_')
        };
        if boundary {
            names.push(
                expr[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    names
}

/// Every panel of a dashboard, rows' nested panels included.
fn all_panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .map(|panels| panels.iter().collect())
        .unwrap_or_default();
    while let Some(panel) = stack.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            stack.extend(nested);
        }
        out.push(panel);
    }
    out
}

/// YAML files in a directory.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|ext| ext == "yml" || ext == "yaml")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Grafana finds its provisioning through its bind mounts: a datasource
/// file, a dashboards provider whose `options.path` maps to a repository
/// directory holding dashboards (JSON with a `panels` array), dashboards
/// that use only provisioned datasources and metric names the code
/// registers, and the home dashboard.
fn grafana_problems(compose: &Value, root: &Path) -> Vec<String> {
    let services = services(compose);
    let Some((name, grafana)) = services.iter().find(|(_, service)| {
        service
            .get("image")
            .and_then(Value::as_str)
            .is_some_and(|image| image_parts(image).0.ends_with("grafana/grafana"))
    }) else {
        return vec!["no grafana service".to_owned()];
    };
    let mut problems = Vec::new();
    let mounts = bind_mounts(grafana);
    let env = environment(grafana);
    let provisioning_path = env
        .get("GF_PATHS_PROVISIONING")
        .cloned()
        .flatten()
        .unwrap_or_else(|| "/etc/grafana/provisioning".to_owned());
    let Some(provisioning) = host_path(root, &mounts, &provisioning_path).filter(|p| p.is_dir())
    else {
        return vec![format!(
            "service {name}: {provisioning_path} is not mounted from a repository directory"
        )];
    };

    // Datasources.
    let mut uids = BTreeSet::new();
    let datasource_files = yaml_files(&provisioning.join("datasources"));
    for file in &datasource_files {
        let config = load_yaml(file);
        for source in config
            .get("datasources")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            match source.get("uid").and_then(scalar) {
                Some(uid) => {
                    uids.insert(uid);
                }
                None => problems.push(format!(
                    "{}: a datasource without a fixed uid",
                    file.display()
                )),
            }
        }
    }
    if uids.is_empty() {
        problems.push(format!(
            "service {name}: no datasource provisioned in {}/datasources",
            provisioning.display()
        ));
    }

    // Dashboard providers and their dashboards.
    let registered = registered_metrics(root);
    let mut providers = 0;
    for file in yaml_files(&provisioning.join("dashboards")) {
        let config = load_yaml(&file);
        for provider in config
            .get("providers")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            providers += 1;
            let Some(path) = provider
                .get("options")
                .and_then(|options| options.get("path"))
                .and_then(scalar)
            else {
                problems.push(format!(
                    "{}: a provider without options.path",
                    file.display()
                ));
                continue;
            };
            let Some(dir) = host_path(root, &mounts, &path).filter(|dir| dir.is_dir()) else {
                problems.push(format!(
                    "{}: dashboards path {path} is not mounted from a repository directory in service {name}",
                    file.display()
                ));
                continue;
            };
            let mut dashboards = 0;
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|ext| ext != "json") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let dashboard: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(dashboard) => dashboard,
                    Err(error) => {
                        problems.push(format!("{}: {error}", path.display()));
                        continue;
                    }
                };
                if !dashboard["panels"].is_array() {
                    problems.push(format!("{}: no `panels` array", path.display()));
                    continue;
                }
                dashboards += 1;
                problems.extend(dashboard_problems(&path, &dashboard, &uids, &registered));
            }
            if dashboards == 0 {
                problems.push(format!(
                    "{}: no dashboard (*.json with panels) in {}",
                    file.display(),
                    dir.display()
                ));
            }
        }
    }
    if providers == 0 {
        problems.push(format!(
            "service {name}: no dashboard provider in {}/dashboards",
            provisioning.display()
        ));
    }

    // The home dashboard, if set.
    if let Some(Some(home)) = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
        && host_path(root, &mounts, home).is_none_or(|path| !path.is_file())
    {
        problems.push(format!(
            "service {name}: home dashboard {home} is not a mounted repository file"
        ));
    }
    problems
}

/// One dashboard's panels use provisioned datasources and registered metrics.
fn dashboard_problems(
    path: &Path,
    dashboard: &serde_json::Value,
    uids: &BTreeSet<String>,
    registered: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let known = |name: &str| registered.contains(name);
    let known_metric = |name: &str| {
        known(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix).is_some_and(known))
    };
    for panel in all_panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        let mut datasources = vec![&panel["datasource"]];
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        datasources.extend(targets.iter().map(|target| &target["datasource"]));
        for datasource in datasources {
            if let Some(uid) = datasource["uid"].as_str()
                && !uid.starts_with('$')
                && !uids.contains(uid)
            {
                problems.push(format!(
                    "{}: panel {title:?} uses datasource uid {uid}, which is not provisioned",
                    path.display()
                ));
            }
        }
        for target in &targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            for metric in metric_names(expr) {
                if !known_metric(&metric) {
                    problems.push(format!(
                        "{}: panel {title:?} queries {metric}, which no rfq code registers",
                        path.display()
                    ));
                }
            }
        }
    }
    problems
}

// -------------------------------------------------------------- the tests

#[test]
fn grafana_provisioning_finds_datasource_and_dashboards() {
    assert_no_problems(
        "Grafana provisioning",
        grafana_problems(&compose(), &repo()),
    );
}

#[test]
fn grafana_check_reports_a_missing_dashboard() {
    let root = tempfile::tempdir().unwrap();
    let provisioning = root.path().join("grafana/provisioning");
    std::fs::create_dir_all(provisioning.join("datasources")).unwrap();
    std::fs::create_dir_all(provisioning.join("dashboards")).unwrap();
    std::fs::create_dir_all(root.path().join("grafana/dashboards")).unwrap();
    std::fs::write(
        provisioning.join("datasources/p.yml"),
        "datasources: [{name: P, uid: p, type: prometheus, url: 'http://prometheus:9090'}]",
    )
    .unwrap();
    std::fs::write(
        provisioning.join("dashboards/d.yml"),
        "providers: [{name: d, type: file, options: {path: /dashboards}}]",
    )
    .unwrap();
    let compose = parse_yaml(
        "services: {grafana: {image: 'grafana/grafana:11.4.0', volumes: \
         ['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/dashboards']}}",
    );
    let problems = grafana_problems(&compose, root.path());
    assert!(mentions(&problems, &["no dashboard"]), "{problems:#?}");
    assert_eq!(problems.len(), 1, "{problems:#?}");

    // A dashboard querying a metric nobody registers, through an unknown datasource.
    std::fs::write(
        root.path().join("grafana/dashboards/x.json"),
        r#"{"panels": [{"title": "T", "datasource": {"uid": "nope"},
            "targets": [{"expr": "rate(rfq_no_such_metric_total[1m])"}]}]}"#,
    )
    .unwrap();
    let problems = grafana_problems(&compose, root.path());
    assert!(
        mentions(&problems, &["rfq_no_such_metric_total"]),
        "{problems:#?}"
    );
    assert!(mentions(&problems, &["nope"]), "{problems:#?}");
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
