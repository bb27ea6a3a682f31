//! `rfq partners`: partners as tenants with an identity. `add` makes a
//! partner's two secrets (its Kafka password and its registry password),
//! keeps only what checks them (the SCRAM credential, the registry
//! password's digest) in the result store, and prints the secrets once with
//! everything the partner needs: its user, mechanism, door topics, groups
//! and subjects. For a real Kafka it prints Kafka's own commands
//! ([`kafka`]): the SCRAM credential, the ACLs on the door and a produce
//! quota. `rotate` replaces both secrets, `remove` takes the identity away
//! (the name is never handed to another partner); the broker's front and
//! the registry see either within 30 s.

mod kafka;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use rfq_core::kafka::KafkaSettings;
use rfq_core::{
    Door, PartnerName,
    auth::{ApiKey, partners::Partner, scram::ScramCredential},
};
use rfq_store::StoreSettings;

/// A partner's produce quota when none is given: 1 MiB/s, far above what
/// answers and heartbeats need, far below what hurts a broker.
const DEFAULT_PRODUCE_BYTES_PER_SECOND: u64 = 1 << 20;

/// `rfq partners`.
#[derive(Debug, Args)]
pub struct PartnersArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: PartnersAction,
}

/// What `rfq partners` does.
#[derive(Debug, Subcommand)]
pub enum PartnersAction {
    /// Adds a partner and prints its secrets (once: only what checks them
    /// is stored) and what to run on a real Kafka.
    Add {
        /// The partner's name: 2 to 24 lowercase letters and digits.
        name: String,
        /// The partner's produce quota on a real Kafka.
        #[arg(long, default_value_t = DEFAULT_PRODUCE_BYTES_PER_SECOND)]
        produce_bytes_per_second: u64,
        /// The result store the partners are kept in.
        #[command(flatten)]
        store: StoreSettings,
        /// A real Kafka to set the partner up on (`--brokers`, and the
        /// operator's `--kafka-option`s); without, the commands are printed.
        #[command(flatten)]
        kafka: KafkaSettings,
    },
    /// Lists the partners, removed ones too.
    List {
        /// The result store the partners are kept in.
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Replaces a partner's two secrets and prints the new ones (once).
    Rotate {
        /// The partner.
        name: String,
        /// The result store the partners are kept in.
        #[command(flatten)]
        store: StoreSettings,
        /// A real Kafka to replace the credential on (see `add`).
        #[command(flatten)]
        kafka: KafkaSettings,
    },
    /// Removes a partner: its secrets stop working; prints what to run on
    /// a real Kafka.
    Remove {
        /// The partner.
        name: String,
        /// The result store the partners are kept in.
        #[command(flatten)]
        store: StoreSettings,
        /// A real Kafka to take the partner off (see `add`).
        #[command(flatten)]
        kafka: KafkaSettings,
    },
}

impl PartnersAction {
    fn store(&self) -> &StoreSettings {
        match self {
            PartnersAction::Add { store, .. }
            | PartnersAction::List { store }
            | PartnersAction::Rotate { store, .. }
            | PartnersAction::Remove { store, .. } => store,
        }
    }
}

/// A partner's two new secrets and the credentials kept of them.
struct Secrets {
    kafka: ApiKey,
    registry: ApiKey,
    scram: rfq_core::auth::scram::Derived,
}

impl Secrets {
    fn generate() -> Secrets {
        let (kafka, registry) = (ApiKey::generate(), ApiKey::generate());
        let scram = ScramCredential::generate(kafka.expose());
        Secrets {
            kafka,
            registry,
            scram,
        }
    }
}

/// What a partner is told: its secrets and its door.
fn handout(door: &Door, secrets: &Secrets) -> String {
    let partner = door.partner();
    let subject = |topic: String| format!("{topic}-value");
    format!(
        "  kafka user:         {partner}\n  kafka password:     {}\n  \
         kafka mechanism:    {} (SASL)\n  registry user:      {partner}\n  \
         registry password:  {}\n  reads topic:        {}\n  \
         writes topics:      {}, {}\n  consumer groups:    {}*\n  \
         registers subjects: {}, {}\n  reads subject:      {}\n",
        secrets.kafka.expose(),
        rfq_core::auth::scram::MECHANISM,
        secrets.registry.expose(),
        door.rfqs_topic(),
        door.answers_topic(),
        door.heartbeats_topic(),
        door.prefix(),
        subject(door.answers_topic()),
        subject(door.heartbeats_topic()),
        subject(door.rfqs_topic()),
    )
}

/// Runs `rfq partners`.
pub async fn run(args: PartnersArgs) -> anyhow::Result<()> {
    let described = args.action.store().describe();
    let store = args
        .action
        .store()
        .open()
        .await
        .with_context(|| format!("opening the result store ({described})"))?;
    let name = |text: &str| PartnerName::parse(text).context("the partner's name");
    match args.action {
        PartnersAction::Add {
            name: text,
            produce_bytes_per_second,
            kafka: target,
            ..
        } => {
            let name = name(&text)?;
            let (secrets, now) = (Secrets::generate(), chrono::Utc::now());
            let partner = Partner {
                name: name.clone(),
                created_at: now,
                rotated_at: now,
                scram: secrets.scram.credential.clone(),
                registry_digest: secrets.registry.digest(),
                removed: false,
            };
            if !store.add_partner(&partner).await.context("storing")? {
                bail!("partner {name} exists already (removed partners keep their name)");
            }
            let door = name.door();
            let kafka_part = match target.brokers.is_some() {
                true => {
                    kafka::apply_grant(&target, &door, &secrets.scram, produce_bytes_per_second)
                        .await
                        .context("setting the partner up on Kafka")?;
                    format!(
                        "On Kafka at {}: its SCRAM credential, its door's ACLs and a produce \
                         quota of {produce_bytes_per_second} bytes/s are set.",
                        target.brokers()
                    )
                }
                false => format!(
                    "On a real Kafka, run (or give --brokers to have it done):\n{}",
                    kafka::grant(
                        &door,
                        secrets.kafka.expose(),
                        &secrets.scram,
                        produce_bytes_per_second
                    )
                ),
            };
            println!(
                "Partner {name} added to {described}. Its secrets, shown once (only what checks \
                 them is stored):\n{}\n{kafka_part}",
                handout(&door, &secrets),
            );
        }
        PartnersAction::List { .. } => {
            let partners = store.partners().await.context("reading the partners")?;
            println!(
                "{:<24}  {:<8}  {:<20}  rotated",
                "name", "status", "created"
            );
            for partner in partners {
                let status = if partner.removed { "removed" } else { "active" };
                let time = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ");
                println!(
                    "{:<24}  {status:<8}  {}  {}",
                    partner.name.as_str(),
                    time(partner.created_at),
                    time(partner.rotated_at)
                );
            }
        }
        PartnersAction::Rotate {
            name: text,
            kafka: target,
            ..
        } => {
            let name = name(&text)?;
            let secrets = Secrets::generate();
            let (scram, digest) = (&secrets.scram.credential, secrets.registry.digest());
            let at = chrono::Utc::now();
            if !store.rotate_partner(&name, scram, &digest, at).await? {
                bail!("no partner {name} to rotate (unknown or removed)");
            }
            let door = name.door();
            let kafka_part = match target.brokers.is_some() {
                true => {
                    kafka::apply_rotation(&target, &door, &secrets.scram)
                        .await
                        .context("replacing the partner's credential on Kafka")?;
                    format!(
                        "On Kafka at {}: its SCRAM credential is replaced.",
                        target.brokers()
                    )
                }
                false => {
                    let grant = kafka::grant(
                        &door,
                        secrets.kafka.expose(),
                        &secrets.scram,
                        DEFAULT_PRODUCE_BYTES_PER_SECOND,
                    );
                    let credential = grant.lines().take(2).collect::<Vec<_>>().join("\n");
                    format!("On a real Kafka, run (or give --brokers):\n{credential}")
                }
            };
            println!(
                "Partner {name}'s secrets replaced; the old ones stop working within 30 s. \
                 Its new secrets, shown once:\n{}\n{kafka_part}",
                handout(&door, &secrets)
            );
        }
        PartnersAction::Remove {
            name: text,
            kafka: target,
            ..
        } => {
            let name = name(&text)?;
            if !store.remove_partner(&name).await? {
                bail!("no partner {name} to remove (unknown or removed already)");
            }
            let kafka_part = match target.brokers.is_some() {
                true => {
                    let acls = kafka::apply_revoke(&target, &name.door())
                        .await
                        .context("taking the partner off Kafka")?;
                    format!(
                        "On Kafka at {}: its credential, quota and {acls} ACLs are removed.",
                        target.brokers()
                    )
                }
                false => format!(
                    "On a real Kafka, run (or give --brokers):\n{}",
                    kafka::revoke(&name.door())
                ),
            };
            println!("Partner {name} removed: its secrets stop working within 30 s.\n{kafka_part}");
        }
    }
    Ok(())
}
