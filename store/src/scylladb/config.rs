//! How to reach ScyllaDB: contact points, keyspace, replication, consistency,
//! credentials, TLS, retention and the in-flight bound. Every setting has a
//! flag and an environment variable; `SCYLLA_NODES` alone selects ScyllaDB.

use crate::StoreError;
use scylla::{
    client::{session::Session, session_builder::SessionBuilder},
    statement::Consistency,
};
use std::{path::PathBuf, sync::Arc, time::Duration};

/// ScyllaDB settings (used when `--scylla-nodes` is set).
#[derive(Debug, Clone, clap::Args)]
pub struct ScyllaSettings {
    /// ScyllaDB contact points, comma-separated host:port. Setting them
    /// selects the ScyllaDB store instead of the embedded one.
    #[arg(long = "scylla-nodes", env = "SCYLLA_NODES", value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// Keyspace of the result tables (created if missing).
    #[arg(
        long = "scylla-keyspace",
        env = "RFQ_SCYLLA_KEYSPACE",
        default_value = "rfq",
        value_parser = parse_keyspace
    )]
    pub keyspace: String,

    /// Replication of the keyspace when it is created: a replication factor
    /// (`3`) or one per datacenter (`dc1=3,dc2=3`); NetworkTopologyStrategy.
    #[arg(
        long = "scylla-replication",
        env = "RFQ_SCYLLA_REPLICATION",
        default_value = "3",
        value_parser = Replication::parse
    )]
    pub replication: Replication,

    /// Consistency of reads and writes: one, local-one, quorum,
    /// local-quorum, each-quorum or all. The default, local-quorum for both,
    /// makes every acknowledged write visible to the next read in the
    /// datacenter (R + W > RF).
    #[arg(
        long = "scylla-consistency",
        env = "RFQ_SCYLLA_CONSISTENCY",
        default_value = "local-quorum",
        value_parser = parse_consistency
    )]
    pub consistency: Consistency,

    /// The local datacenter: its nodes coordinate our requests, and the
    /// `local-*` consistency levels count replicas there.
    #[arg(long = "scylla-datacenter", env = "RFQ_SCYLLA_DATACENTER")]
    pub datacenter: Option<String>,

    /// User name (password authentication).
    #[arg(long = "scylla-username", env = "RFQ_SCYLLA_USERNAME")]
    pub username: Option<String>,

    /// Password (password authentication); prefer the environment variable.
    #[arg(
        long = "scylla-password",
        env = "RFQ_SCYLLA_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Connect with TLS (server certificate checked against the system roots,
    /// or against `--scylla-ca-file`).
    #[arg(long = "scylla-tls", env = "RFQ_SCYLLA_TLS")]
    pub tls: bool,

    /// PEM file of the CA that signed the nodes' certificates (implies TLS).
    #[arg(long = "scylla-ca-file", env = "RFQ_SCYLLA_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// How long a closed RFQ and its answers are kept, in days (a TTL on
    /// every row, counted from the RFQ's deadline).
    #[arg(
        long = "scylla-retention-days",
        env = "RFQ_SCYLLA_RETENTION_DAYS",
        default_value_t = 7,
        value_parser = clap::value_parser!(u32).range(1..=3650)
    )]
    pub retention_days: u32,

    /// Most requests in flight to ScyllaDB from this process; more wait.
    #[arg(
        long = "scylla-max-in-flight",
        env = "RFQ_SCYLLA_MAX_IN_FLIGHT",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..=65_536)
    )]
    pub max_in_flight: u32,
}

/// Keyspace replication: NetworkTopologyStrategy with one factor for every
/// datacenter, or a factor per datacenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `replication_factor` in every datacenter.
    Factor(u8),
    /// A factor per named datacenter.
    PerDatacenter(Vec<(String, u8)>),
}

impl Replication {
    /// Parses `3` or `dc1=3,dc2=2`.
    pub fn parse(text: &str) -> Result<Replication, String> {
        let factor = |text: &str| match text.trim().parse::<u8>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "replication factor {text:?} is not a number from 1 to 255"
            )),
        };
        if !text.contains('=') {
            return factor(text).map(Replication::Factor);
        }
        let mut per_dc = Vec::new();
        for part in text.split(',') {
            let (dc, n) = part
                .split_once('=')
                .ok_or_else(|| format!("expected DATACENTER=FACTOR, got {part:?}"))?;
            let dc = dc.trim();
            if dc.is_empty()
                || !dc
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("datacenter name {dc:?} is not valid"));
            }
            per_dc.push((dc.to_owned(), factor(n)?));
        }
        Ok(Replication::PerDatacenter(per_dc))
    }

    /// The CQL map of `CREATE KEYSPACE ... WITH replication = `.
    pub fn cql(&self) -> String {
        match self {
            Replication::Factor(n) => {
                format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {n}}}")
            }
            Replication::PerDatacenter(dcs) => {
                let dcs: Vec<String> = dcs.iter().map(|(dc, n)| format!("'{dc}': {n}")).collect();
                format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", "))
            }
        }
    }
}

/// A keyspace name: CQL identifiers we create unquoted.
fn parse_keyspace(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 48
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "keyspace {text:?}: letters, digits and _ only, starting with a letter, at most 48"
        ))
    }
}

/// A consistency level by its CQL name (`local-quorum`, `LOCAL_QUORUM`).
pub fn parse_consistency(text: &str) -> Result<Consistency, String> {
    Ok(
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "one" => Consistency::One,
            "two" => Consistency::Two,
            "three" => Consistency::Three,
            "local-one" => Consistency::LocalOne,
            "quorum" => Consistency::Quorum,
            "local-quorum" => Consistency::LocalQuorum,
            "each-quorum" => Consistency::EachQuorum,
            "all" => Consistency::All,
            other => {
                return Err(format!(
                    "consistency {other:?}: one of one, two, three, local-one, quorum, \
                     local-quorum, each-quorum, all"
                ));
            }
        },
    )
}

impl Default for ScyllaSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}

impl ScyllaSettings {
    /// Settings for `nodes` and `keyspace`, every other value at its default
    /// except the replication factor: 1, for a single test node.
    pub fn new(nodes: impl IntoIterator<Item = impl Into<String>>, keyspace: &str) -> Self {
        ScyllaSettings {
            nodes: nodes.into_iter().map(Into::into).collect(),
            keyspace: keyspace.to_owned(),
            replication: Replication::Factor(1),
            ..ScyllaSettings::default()
        }
    }

    /// How long a closed RFQ is kept.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 24 * 3600)
    }

    /// Connects to the cluster.
    pub async fn connect(&self) -> Result<Session, StoreError> {
        let backend = |e: &dyn std::fmt::Display| StoreError::Backend(e.to_string());
        if self.nodes.is_empty() {
            return Err(StoreError::Backend("no ScyllaDB contact points".into()));
        }
        let mut builder = SessionBuilder::new()
            .known_nodes(&self.nodes)
            .connection_timeout(Duration::from_secs(10));
        if let Some(datacenter) = &self.datacenter {
            builder = builder.prefer_datacenter(datacenter.clone());
        }
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => builder = builder.user(user, password),
            (None, None) => {}
            _ => {
                return Err(StoreError::Backend(
                    "ScyllaDB user name and password go together".into(),
                ));
            }
        }
        if self.tls || self.ca_file.is_some() {
            builder = builder.tls_context(Some(self.tls_config()?));
        }
        builder.build().await.map_err(|e| backend(&e))
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, StoreError> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let tls = |e: &dyn std::fmt::Display| StoreError::Backend(format!("ScyllaDB TLS: {e}"));
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| tls(&e))? {
                    roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        if roots.is_empty() {
            return Err(tls(&"no CA certificate to check the nodes against"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_and_consistency_parse_or_explain() {
        assert_eq!(Replication::parse("3"), Ok(Replication::Factor(3)));
        assert_eq!(
            Replication::parse("eu=3, us=2").map(|r| r.cql()),
            Ok("{'class': 'NetworkTopologyStrategy', 'eu': 3, 'us': 2}".to_owned())
        );
        assert!(Replication::parse("0").is_err());
        assert!(Replication::parse("eu=3,us").is_err());
        assert!(Replication::parse("e'u=3").is_err());
        assert_eq!(
            parse_consistency("LOCAL_QUORUM"),
            Ok(Consistency::LocalQuorum)
        );
        assert!(parse_consistency("most").is_err());
        assert_eq!(parse_keyspace("Rfq_1"), Ok("rfq_1".to_owned()));
        assert!(parse_keyspace("rfq; DROP").is_err());
    }
}
