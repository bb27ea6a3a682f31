//! `rfq keys`: API keys kept (as their digests) in the result store, where
//! every producer and read API looks keys up: how a production deployment
//! (ScyllaDB) knows who is asking. A key speaks for a customer (posts RFQs,
//! reads its own), a partner (reads its own providers' scorecards and the
//! RFQs addressed to them) or an operator (reads everything); see
//! `rfq_core::auth::Principal`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rfq_core::auth::{ApiKey, Principal, Role};
use rfq_store::StoreSettings;

/// `rfq keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// Whom a new key speaks for: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Whom {
    /// A customer's key: posts RFQs and reads its own.
    #[arg(long)]
    pub customer: Option<String>,
    /// A partner's key: reads its own providers' scorecards (provider ids
    /// `NAME-…`) and the RFQs addressed to them; posts nothing.
    #[arg(long)]
    pub partner: Option<String>,
    /// An operator's key (named `operator` unless a name is given): reads
    /// every scorecard and RFQ; posts nothing.
    #[arg(long, num_args = 0..=1, default_missing_value = "operator")]
    pub operator: Option<String>,
}

impl Whom {
    fn principal(&self) -> anyhow::Result<Principal> {
        let (role, name, flag) = match (&self.customer, &self.partner, &self.operator) {
            (Some(name), _, _) => (Role::Customer, name, "--customer"),
            (_, Some(name), _) => (Role::Partner, name, "--partner"),
            (_, _, Some(name)) => (Role::Operator, name, "--operator"),
            _ => anyhow::bail!("name --customer, --partner or --operator"),
        };
        Principal::of(role, name).context(flag)
    }
}

/// What `rfq keys` does.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Makes a new API key for a customer, a partner or an operator and
    /// prints it (once: only its digest is stored). Producers and read
    /// APIs know it within 30 seconds.
    Add {
        /// Whom the key speaks for.
        #[command(flatten)]
        whom: Whom,
        /// The result store the key goes to.
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Lists the keys in the store: the start of each digest (never the
    /// key), its role, whom it names and when it was added.
    List {
        /// The result store.
        #[command(flatten)]
        store: StoreSettings,
    },
}

/// Runs `rfq keys`.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let store = match &args.action {
        KeysAction::Add { store, .. } | KeysAction::List { store } => store,
    };
    let opened = store
        .open()
        .await
        .with_context(|| format!("opening the result store ({})", store.describe()))?;
    match &args.action {
        KeysAction::Add { whom, .. } => {
            let principal = whom.principal()?;
            let key = ApiKey::generate();
            opened
                .add_api_key(&key.digest(), &principal)
                .await
                .context("storing the key")?;
            eprintln!(
                "API key for {principal} stored in {} (shown once; send it as `Authorization: Bearer <key>`):",
                store.describe()
            );
            println!("{}", key.expose());
        }
        KeysAction::List { .. } => {
            let keys = opened.api_keys().await.context("reading the keys")?;
            println!("{:<16} {:<9} {:<24} added", "digest", "role", "name");
            for key in keys {
                let digest = key.digest.as_str().get(..12).unwrap_or_default();
                println!(
                    "{digest:<16} {:<9} {:<24} {}",
                    key.principal.role().as_str(),
                    key.principal.name(),
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn whom(argv: &[&str]) -> Result<Principal, String> {
        let argv = ["rfq", "keys", "add"].iter().chain(argv);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.kind().to_string())?;
        match cli.command {
            Command::Keys(KeysArgs {
                action: KeysAction::Add { whom, .. },
            }) => whom.principal().map_err(|e| format!("{e:#}")),
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn a_key_names_one_customer_partner_or_operator() {
        assert_eq!(
            whom(&["--customer", "alice"]),
            Ok(Principal::parse("alice").unwrap())
        );
        let acme = whom(&["--partner", "acme"]).unwrap();
        assert_eq!(acme.to_string(), "partner acme");
        assert_eq!(
            whom(&["--operator"]).unwrap().to_string(),
            "operator operator"
        );
        assert_eq!(
            whom(&["--operator", "ops"]).unwrap().to_string(),
            "operator ops"
        );
        assert!(whom(&[]).is_err(), "one is required");
        assert!(whom(&["--customer", "a", "--partner", "acme"]).is_err());
        let bad = whom(&["--partner", "Acme-1"]).unwrap_err();
        assert!(bad.contains("--partner"), "{bad}");
    }

    #[tokio::test]
    async fn added_keys_are_listed_with_their_roles() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreSettings::embedded(dir.path().join("results.db"));
        let add = |whom: Whom| KeysArgs {
            action: KeysAction::Add {
                whom,
                store: store.clone(),
            },
        };
        let none = Whom {
            customer: None,
            partner: None,
            operator: None,
        };
        run(add(Whom {
            partner: Some("acme".into()),
            ..none
        }))
        .await
        .unwrap();
        let list = KeysArgs {
            action: KeysAction::List {
                store: store.clone(),
            },
        };
        run(list).await.unwrap();
        let keys = store.open().await.unwrap().api_keys().await.unwrap();
        let roles: Vec<String> = keys.iter().map(|k| k.principal.to_string()).collect();
        assert_eq!(roles, ["partner acme"]);
    }
}
