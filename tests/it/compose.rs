//! The Docker deliverables, checked without Docker: `docker-compose.yml`,
//! `prometheus/prometheus.yml` and the Grafana provisioning are parsed and
//! held against the real `rfq` command line and the metrics the code
//! registers.
//!
//! Every check is a function returning the problems it found (one line
//! each, naming the service and the culprit); the tests assert the lists
//! are empty for the real files, and a few run a check over a small inline
//! file to show that it does catch what it is meant to catch.

use clap::{ArgAction, CommandFactory as _, Parser as _};
use serde_yaml::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsStr,
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Variables read by the binary outside clap (tracing's filter).
const NON_CLAP_ENV: &[&str] = &["RUST_LOG"];

/// Subcommands whose HTTP server (`RFQ_HTTP_ADDR`) serves `/metrics`.
const HTTP_SUBCOMMANDS: &[&str] = &["up", "producer", "api"];

/// The subcommand that creates topics and schema, run once before the others.
const MIGRATE: &str = "migrate";

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

fn prometheus() -> Value {
    load_yaml(&repo().join("prometheus/prometheus.yml"))
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

// --------------------------------------------------------------- the checks

/// The environment variables `rfq <subcommand>` reads (`None`: no such
/// subcommand). Flattened argument groups are included.
fn known_env(subcommand: &str) -> Option<BTreeSet<String>> {
    let cli = rfq::cli::Cli::command();
    let command = cli.find_subcommand(subcommand)?;
    Some(
        command
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .chain(NON_CLAP_ENV.iter().map(|&env| env.to_owned()))
            .collect(),
    )
}

/// Every rfq service runs a real subcommand and sets only variables that
/// subcommand reads (a misspelt or misplaced variable is silently ignored
/// by the binary, hence this check).
fn env_problems(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in rfq_services(compose) {
        let Some(sub) = subcommand(service) else {
            problems.push(format!(
                "service {name}: no `command:` (which rfq subcommand?)"
            ));
            continue;
        };
        let Some(known) = known_env(&sub) else {
            problems.push(format!(
                "service {name}: runs `rfq {sub}`, which is not a subcommand of rfq"
            ));
            continue;
        };
        for variable in environment(service).keys() {
            if !known.contains(variable) {
                problems.push(format!(
                    "service {name}: environment variable {variable} is not read by `rfq {sub}`"
                ));
            }
        }
    }
    problems
}

/// The command line equivalent to a service's command and environment:
/// every variable becomes its flag (`--long=value`), so that the real
/// parsers check the values. `None`: not an rfq subcommand (reported by
/// [`env_problems`]).
fn equivalent_args(service: &Value) -> Option<Vec<String>> {
    let cli = rfq::cli::Cli::command();
    let command_words = command(service);
    let sub = cli.find_subcommand(command_words.first()?)?;
    let mut args = vec!["rfq".to_owned()];
    args.extend(command_words);
    for (variable, value) in environment(service) {
        let Some(arg) = sub
            .get_arguments()
            .find(|arg| arg.get_env() == Some(OsStr::new(&variable)))
        else {
            continue; // unknown variables: env_problems
        };
        let Some(long) = arg.get_long() else {
            continue;
        };
        let value = value.unwrap_or_default();
        match arg.get_action() {
            // clap reads a flag's variable as a boolean; "", "0", "false",
            // "no", "off" are false.
            ArgAction::SetTrue => {
                if !["", "0", "false", "no", "off"].contains(&value.to_lowercase().as_str()) {
                    args.push(format!("--{long}"));
                }
            }
            _ => args.push(format!("--{long}={value}")),
        }
    }
    Some(args)
}

/// Every rfq service's settings are values the binary accepts (addresses,
/// coordinates, consistency levels, ...), checked by its own parsers.
fn value_problems(compose: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in rfq_services(compose) {
        let Some(args) = equivalent_args(service) else {
            continue;
        };
        if let Err(error) = rfq::cli::Cli::try_parse_from(&args) {
            let message = error.to_string();
            let first = message.lines().next().unwrap_or_default();
            problems.push(format!(
                "service {name}: `{}` is refused: {first}",
                args.join(" ")
            ));
        }
    }
    problems
}

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
    let known_metric = |name: &str| {
        registered.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| registered.contains(base))
            })
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
fn compose_rfq_services_set_only_variables_their_subcommand_reads() {
    let compose = compose();
    assert!(
        rfq_services(&compose).len() >= 6,
        "expected migrate, producer, aggregator, api and two adapters"
    );
    assert_no_problems("environment of rfq services", env_problems(&compose));
}

#[test]
fn compose_rfq_settings_parse() {
    assert_no_problems("values of rfq settings", value_problems(&compose()));
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
fn prometheus_scrapes_every_metrics_endpoint() {
    let compose = compose();
    let mut problems = scrape_problems(&compose, &prometheus());
    problems.extend(prometheus_mount_problems(&compose));
    assert_no_problems("Prometheus scraping", problems);
}

#[test]
fn grafana_provisioning_finds_datasource_and_dashboards() {
    assert_no_problems(
        "Grafana provisioning",
        grafana_problems(&compose(), &repo()),
    );
}

#[test]
fn compose_dependencies_exist_and_wait_for_the_migration() {
    assert_no_problems("depends_on", dependency_problems(&compose()));
}

#[test]
fn compose_healthchecks_have_tests() {
    assert_no_problems("health checks", healthcheck_problems(&compose()));
}

// ----------------------------------------------- the checks can fail

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
      - RFQ_BROKERS=kafka:9092
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

const BROKEN_PROMETHEUS: &str = r#"
scrape_configs:
  - job_name: rfq
    static_configs:
      - targets: ["producer:8080"]
"#;

fn mentions(problems: &[String], words: &[&str]) -> bool {
    problems
        .iter()
        .any(|problem| words.iter().all(|word| problem.contains(word)))
}

#[test]
fn env_check_reports_unknown_and_misplaced_variables() {
    let problems = env_problems(&parse_yaml(BROKEN));
    assert!(
        mentions(&problems, &["producer", "RFQ_NO_SUCH_SETTING"]),
        "{problems:#?}"
    );
    // `rfq api` has no Kafka settings.
    assert!(
        mentions(&problems, &["api", "RFQ_BROKERS"]),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let unknown = env_problems(&parse_yaml(
        "services: {x: {image: 'rfq:1', command: frobnicate}}",
    ));
    assert!(mentions(&unknown, &["x", "frobnicate"]), "{unknown:#?}");
}

#[test]
fn value_check_reports_a_setting_the_binary_refuses() {
    let compose = parse_yaml(
        "services: {a: {image: 'rfq:1', command: adapter, environment: \
         {RFQ_FLEET_CENTER: '52.52,13.40', RFQ_FLEET_PER_REGION: many}}, \
         p: {image: 'rfq:1', command: producer, environment: {RFQ_HTTP_ADDR: '0.0.0.0:8080'}}}",
    );
    let problems = value_problems(&compose);
    assert!(
        mentions(&problems, &["service a", "--fleet-per-region=many"]),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
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
