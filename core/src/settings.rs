//! Settings: declared once, layered one way for every subcommand.
//!
//! Every setting is a field of a `clap::Args` struct, declared once with
//! its flag, its environment variable, its default and its doc (what
//! `--help` prints). `Default` impls and test fixtures do not restate
//! defaults: [`defaults`] reads them from that declaration, so they cannot
//! drift from what the command line does. (An optional setting's fallback,
//! such as the bootstrap servers, is a named constant its doc refers to.)
//!
//! The layers, lowest first (zero2prod-style):
//!
//! 1. the default in the declaration;
//! 2. a YAML settings file (`--config FILE` or `RFQ_CONFIG`), whose keys are
//!    the long flag names (`brokers: kafka:9092`, `kafka-option: [linger.ms=10]`),
//!    at the top level for every subcommand that has the flag, or under a
//!    subcommand's name (`producer:`) for that subcommand only;
//! 3. the environment variable;
//! 4. the flag.
//!
//! The file becomes layer 2 by turning its values into the flags' defaults
//! before clap parses, so clap's own precedence (flag > environment >
//! default) does the rest and `--help` shows the values in effect. A key no
//! subcommand knows is an error naming the file and the key, never ignored.
//!
//! This is the machinery only: it knows nothing of Kafka or any role. The
//! settings every role of one pipeline must agree on are
//! [`PipelineSettings`](crate::pipeline::PipelineSettings); each role's own
//! live with the role.

use clap::{ArgMatches, Command, FromArgMatches};
use std::{collections::BTreeMap, ffi::OsString, path::PathBuf};

/// The defaults of a settings struct, as its declaration states them
/// (environment variables are not read).
///
/// # Panics
/// If a setting of `T` has neither a default nor `Option` type: a bug in
/// the declaration, caught by the unit test of every settings struct.
pub fn defaults<T: clap::Args + FromArgMatches>() -> T {
    let command = T::augment_args(Command::new("defaults")).mut_args(|arg| arg.env(None));
    command
        .try_get_matches_from(["defaults"])
        .and_then(|matches| T::from_arg_matches(&matches))
        .unwrap_or_else(|error| panic!("a setting without a default: {error}"))
}

/// The flag and environment variable naming the settings file.
pub const CONFIG_FLAG: &str = "config";
/// The environment variable naming the settings file.
pub const CONFIG_ENV: &str = "RFQ_CONFIG";

/// Parses `argv` into `P` through the four layers (see the module docs).
/// `P` must declare the global `--config` flag (for `--help`; it is read
/// here, before clap parses).
pub fn parse_layered<P: clap::Parser>(
    argv: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<P, clap::Error> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut command = P::command();
    if let Some(path) = config_path(&argv) {
        let file = SettingsFile::read(&path)
            .map_err(|message| command.error(clap::error::ErrorKind::InvalidValue, message))?;
        command = file.apply(command).map_err(|message| {
            P::command().error(clap::error::ErrorKind::UnknownArgument, message)
        })?;
    }
    let matches: ArgMatches = command.try_get_matches_from(argv)?;
    P::from_arg_matches(&matches)
}

/// `--config FILE`, `--config=FILE` or `RFQ_CONFIG` (the flag wins).
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let flag = format!("--{CONFIG_FLAG}");
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == flag {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix(&format!("{flag}=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Values of one scope of the file: flag name → values.
type Values = BTreeMap<String, Vec<String>>;

/// A parsed settings file.
#[derive(Debug, Default, PartialEq)]
struct SettingsFile {
    /// Where it was read from (for errors).
    path: PathBuf,
    /// Top-level keys: for every subcommand that has the flag.
    shared: Values,
    /// `subcommand:` sections: for that subcommand only.
    sections: BTreeMap<String, Values>,
}

impl SettingsFile {
    fn read(path: &std::path::Path) -> Result<SettingsFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the settings file {}: {e}", path.display()))?;
        Self::parse(path, &text)
    }

    fn parse(path: &std::path::Path, text: &str) -> Result<SettingsFile, String> {
        let at = |what: String| format!("settings file {}: {what}", path.display());
        let document: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| at(e.to_string()))?;
        let mut file = SettingsFile {
            path: path.to_owned(),
            ..SettingsFile::default()
        };
        let mapping = match document {
            serde_yaml::Value::Null => return Ok(file),
            serde_yaml::Value::Mapping(mapping) => mapping,
            _ => return Err(at("expected a mapping of setting names to values".into())),
        };
        for (key, value) in mapping {
            let key = key_name(&key).map_err(&at)?;
            match value {
                // A section whose keys are all commented out (checked to name
                // a subcommand when the file is applied).
                serde_yaml::Value::Null => {
                    file.sections.insert(key, Values::new());
                }
                serde_yaml::Value::Mapping(section) => {
                    let mut values = Values::new();
                    for (inner, value) in section {
                        let inner = key_name(&inner).map_err(&at)?;
                        let scalars =
                            scalars(&value).map_err(|e| at(format!("{key}.{inner}: {e}")))?;
                        values.insert(inner, scalars);
                    }
                    file.sections.insert(key, values);
                }
                value => {
                    let scalars = scalars(&value).map_err(|e| at(format!("{key}: {e}")))?;
                    file.shared.insert(key, scalars);
                }
            }
        }
        Ok(file)
    }

    /// Makes the file's values the defaults of the matching flags of every
    /// subcommand; refuses keys that match nothing.
    fn apply(&self, mut command: Command) -> Result<Command, String> {
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        for section in self.sections.keys() {
            if !names.contains(section) {
                return Err(format!(
                    "settings file {}: {section:?} is not a subcommand (one of {}), and a setting needs a value",
                    self.path.display(),
                    names.join(", ")
                ));
            }
        }
        let mut used = std::collections::BTreeSet::new();
        for name in &names {
            let empty = Values::new();
            let section = self.sections.get(name).unwrap_or(&empty);
            // (long flag or one of its long aliases, argument id, takes
            // several values): the file names flags, clap edits ids.
            let flags: Vec<(String, String, bool)> = command
                .find_subcommand(name)
                .map(|sub| {
                    sub.get_arguments()
                        .flat_map(|arg| {
                            let several = matches!(arg.get_action(), clap::ArgAction::Append)
                                || arg.get_value_delimiter().is_some();
                            let id = arg.get_id().as_str().to_owned();
                            let names = arg
                                .get_long()
                                .into_iter()
                                .chain(arg.get_all_aliases().into_iter().flatten());
                            names
                                .map(move |long| (long.to_owned(), id.clone(), several))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let has = |key: &String| flags.iter().any(|(long, ..)| long == key);
            for (long, _, several) in &flags {
                let values = section.get(long).or_else(|| self.shared.get(long));
                if let Some(values) = values.filter(|v| v.len() > 1 && !several) {
                    return Err(format!(
                        "settings file {}: {long} takes one value, the file gives {}: {values:?}",
                        self.path.display(),
                        values.len()
                    ));
                }
            }
            for key in section.keys() {
                if !has(key) {
                    return Err(format!(
                        "settings file {}: `rfq {name}` has no setting {key:?} (`rfq {name} --help` lists them)",
                        self.path.display()
                    ));
                }
            }
            used.extend(self.shared.keys().filter(|key| has(key)).cloned());
            command = command.mut_subcommand(name, |mut sub| {
                for (long, id, _) in &flags {
                    let values = section.get(long).or_else(|| self.shared.get(long));
                    if let Some(values) = values {
                        let values: Vec<clap::builder::OsStr> =
                            values.iter().map(|v| v.clone().into()).collect();
                        sub = sub.mut_arg(id, |arg| {
                            // A secret from the file is as hidden as one from
                            // the environment.
                            let secret = arg.is_hide_env_values_set();
                            arg.default_values(values).hide_default_value(secret)
                        });
                    }
                }
                sub
            });
        }
        if let Some(unknown) = self.shared.keys().find(|key| !used.contains(*key)) {
            return Err(format!(
                "settings file {}: no subcommand has a setting {unknown:?} (keys are the long flag names, e.g. `brokers`)",
                self.path.display()
            ));
        }
        Ok(command)
    }
}

fn key_name(key: &serde_yaml::Value) -> Result<String, String> {
    key.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("a key that is not a name: {key:?}"))
}

/// A setting's values: a scalar, or a list of scalars for repeatable flags.
fn scalars(value: &serde_yaml::Value) -> Result<Vec<String>, String> {
    use serde_yaml::Value;
    let scalar = |value: &Value| match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(format!(
            "expected a string, number or boolean, got {other:?}"
        )),
    };
    match value {
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

#[cfg(test)]
mod tests;
