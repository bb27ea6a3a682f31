//! The rfq services' settings, held against the real `rfq` command line:
//! every variable a service sets must be one its subcommand reads (a
//! misspelt or misplaced variable is silently ignored by the binary), and
//! every value must pass the binary's own parsers.

use super::{
    BROKEN, assert_no_problems, command, compose, environment, mentions, parse_yaml, rfq_services,
    subcommand,
};
use clap::{ArgAction, CommandFactory as _, Parser as _};
use serde_yaml::Value;
use std::{collections::BTreeSet, ffi::OsStr};

/// Variables read by the binary outside clap (tracing's filter).
const NON_CLAP_ENV: &[&str] = &["RUST_LOG"];

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
fn env_check_reports_unknown_and_misplaced_variables() {
    let problems = env_problems(&parse_yaml(BROKEN));
    assert!(
        mentions(&problems, &["producer", "RFQ_NO_SUCH_SETTING"]),
        "{problems:#?}"
    );
    // `rfq api` simulates no fleet.
    assert!(
        mentions(&problems, &["api", "RFQ_FLEET_PER_REGION"]),
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
