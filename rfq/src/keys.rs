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
