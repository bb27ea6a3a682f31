//! `rfq keys add`: gives a customer an API key, kept (as its digest) in the
//! result store, where every producer and read API looks keys up: how a
//! production deployment (ScyllaDB) knows its customers.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rfq_core::{CustomerId, auth::ApiKey};
use rfq_store::StoreSettings;

/// `rfq keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// What `rfq keys` does.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Gives a customer a new API key and prints it (once: only its digest
    /// is stored). Producers and read APIs know it within 30 seconds.
    Add {
        /// The customer the key names.
        #[arg(long)]
        customer: String,
        /// The result store the key goes to.
        #[command(flatten)]
        store: StoreSettings,
    },
}

/// Runs `rfq keys`.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.action {
        KeysAction::Add { customer, store } => {
            let customer = CustomerId::parse(&customer).context("--customer")?;
            let opened = store
                .open()
                .await
                .with_context(|| format!("opening the result store ({})", store.describe()))?;
            let key = ApiKey::generate();
            opened
                .add_api_key(&key.digest(), &customer)
                .await
                .context("storing the key")?;
            eprintln!(
                "API key for customer {customer} stored in {} (shown once; send it as `Authorization: Bearer <key>`):",
                store.describe()
            );
            println!("{}", key.expose());
            Ok(())
        }
    }
}
