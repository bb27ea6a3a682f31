//! The API keys given in the settings.

use super::{ApiKey, KeyDigest, Principal};
use anyhow::Context as _;
use std::{collections::HashMap, path::PathBuf};

/// API keys known without the store: for the embedded default and tests.
/// (In production, keys live in the result store: `rfq keys add`.)
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthSettings {
    /// API keys as `customer:key` (a customer's), `partner:NAME:key` (a
    /// partner's) or `operator:NAME:key` (an operator's), comma-separated
    /// in the environment variable. Prefer the variable or
    /// `--api-keys-file` to the flag: a process's arguments are visible to
    /// every user of the machine.
    #[arg(long = "api-keys", env = "RFQ_API_KEYS", value_delimiter = ',')]
    pub api_keys: Vec<String>,

    /// A file of API keys, a `who key` pair per line, `who` as in
    /// `--api-keys` (`alice`, `partner:acme`, `operator:ops`; `#` starts a
    /// comment).
    #[arg(long = "api-keys-file", env = "RFQ_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
}

impl AuthSettings {
    /// Whether any key is given.
    pub fn is_empty(&self) -> bool {
        self.api_keys.iter().all(|pair| pair.trim().is_empty()) && self.api_keys_file.is_none()
    }

    /// The keys given, by digest. Errors name the entry, never the key.
    pub fn configured(&self) -> anyhow::Result<HashMap<KeyDigest, Principal>> {
        let mut keys = HashMap::new();
        for (index, pair) in self.api_keys.iter().enumerate() {
            if pair.trim().is_empty() {
                continue;
            }
            // A key has no `:`: the last one ends who the key is for.
            let (customer, key) = pair
                .rsplit_once(':')
                .with_context(|| format!("--api-keys entry {}: not customer:key", index + 1))?;
            let (customer, key) =
                parse(customer, key).with_context(|| format!("--api-keys entry {}", index + 1))?;
            keys.insert(key, customer);
        }
        if let Some(path) = &self.api_keys_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --api-keys-file {}", path.display()))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.is_empty() {
                    continue;
                }
                let place = || format!("{} line {}", path.display(), number + 1);
                let (customer, key) = line
                    .split_once(char::is_whitespace)
                    .with_context(|| format!("{}: not `customer key`", place()))?;
                let (customer, key) = parse(customer, key).with_context(place)?;
                keys.insert(key, customer);
            }
        }
        Ok(keys)
    }
}

fn parse(who: &str, key: &str) -> anyhow::Result<(Principal, KeyDigest)> {
    let who = Principal::parse(who)?;
    let key = ApiKey::parse(key)?;
    Ok((who, key.digest()))
}
