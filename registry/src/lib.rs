//! A Confluent-compatible schema registry for one machine.
//!
//! Partners produce to our topics with their platform's standard Avro
//! serializers, which look schemas up in a Confluent-compatible registry.
//! In production that is the cluster's own registry (Confluent's, or
//! Apicurio's compatible API); `rfq up` has none to hand, so it serves this
//! one, as it serves an embedded broker in place of a cluster.
//!
//! It implements the part of Confluent's REST API that Confluent's
//! serializers and `schema_registry_converter` use (register, look up,
//! schema by id, subjects and versions, compatibility levels and checks;
//! see [`routes`]), with Confluent's ids (global; the same schema under two
//! subjects shares its id), levels (BACKWARD by default, checked with
//! apache-avro's schema compatibility) and error format ([`RegistryError`]).
//! Every change is an event appended to a compacted topic before it takes
//! effect, as Confluent keeps `_schemas`; a restart replays the topic.
//! Not implemented: deletes, schema references, modes, contexts, schema
//! types other than Avro.
//!
//! **Tenancy** ([`access`], [`guarded`]; `rfq up` serves it guarded): every
//! request carries HTTP Basic credentials, the operator's or a partner's.
//! A partner registers and reads only the subjects under its door
//! (`rfq.door.NAME.`), never sets a level, and sees only its own subjects
//! in lists; schemas by id are shared (ids are global).
//!
//! **A partner's subject is FORWARD_TRANSITIVE** unless the operator set
//! another level on it. A partner is a *writer* we do not upgrade: its
//! records reach a door that reads them with the reader schema it was
//! built with, which may be any earlier version of the subject. So every
//! new schema a partner registers must be readable by every version
//! before it (forward, transitively), which is what lets a partner add a
//! field with a default or drop an optional one without asking us, and
//! what refuses (409) a schema that drops a field our readers need
//! without a default. Our own subjects keep BACKWARD (we upgrade readers
//! first). See `docs/partners.md`, "Credentials".

pub mod access;
mod error;
mod log;
pub mod routes;
mod state;

pub use access::{Access, Caller, OPERATOR};
pub use error::{CONTENT_TYPE, RegistryError};
pub use log::{EventLog, KafkaLog, MemoryLog};
pub use routes::{guarded, router};
pub use state::{Event, Registration, Schemas, Version, VersionSpec, canonical};

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::{Mutex, RwLock};

/// A compatibility level (Confluent's names and meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// A new schema can read data written with the latest one.
    #[default]
    Backward,
    /// ... with every earlier one.
    BackwardTransitive,
    /// The latest schema can read data written with a new one.
    Forward,
    /// ... every earlier one can.
    ForwardTransitive,
    /// Both ways, against the latest.
    Full,
    /// Both ways, against every earlier one.
    FullTransitive,
    /// No check.
    None,
}

impl Level {
    /// Checked against every earlier version, not the latest only.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    /// Parses Confluent's name of a level.
    pub fn parse(name: &str) -> Result<Level, RegistryError> {
        serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| RegistryError::InvalidLevel(name.to_owned()))
    }
}

/// The running registry: its state, and the log every change is appended
/// to first.
#[derive(Clone)]
pub struct Registry {
    /// The state, read by every request.
    state: Arc<RwLock<Schemas>>,
    /// Appends events; held while a change is decided and written, so ids
    /// and versions are given out one at a time.
    log: Arc<Mutex<Box<dyn EventLog>>>,
}

impl Registry {
    /// A registry whose state is `log`'s events replayed.
    pub async fn open(log: Box<dyn EventLog>) -> anyhow::Result<Registry> {
        let mut state = Schemas::default();
        for event in log.replay().await? {
            state.apply(&event);
        }
        Ok(Registry {
            state: Arc::new(RwLock::new(state)),
            log: Arc::new(Mutex::new(log)),
        })
    }

    /// Reads the state.
    pub async fn read(&self) -> tokio::sync::RwLockReadGuard<'_, Schemas> {
        self.state.read().await
    }

    /// Registers `text` under `subject`: the existing version, or a new
    /// one once its event is durable.
    pub async fn register(&self, subject: &str, text: &str) -> Result<Version, RegistryError> {
        let log = self.log.lock().await;
        let registration = self.state.read().await.register(subject, text)?;
        match registration {
            Registration::Existing(version) => Ok(version),
            Registration::New(event) => {
                log.append(&event).await.map_err(RegistryError::Store)?;
                let mut state = self.state.write().await;
                state.apply(&event);
                match event {
                    Event::Schema { version, id, .. } => Ok(Version { version, id }),
                    Event::Config { .. } => Err(RegistryError::Store("unexpected event".into())),
                }
            }
        }
    }

    /// Sets the level of `subject` (or the global one), durably.
    pub async fn set_level(
        &self,
        subject: Option<&str>,
        level: Level,
    ) -> Result<(), RegistryError> {
        let log = self.log.lock().await;
        let event = Event::Config {
            subject: subject.map(str::to_owned),
            level,
        };
        log.append(&event).await.map_err(RegistryError::Store)?;
        self.state.write().await.apply(&event);
        Ok(())
    }
}

/// Settings of the registry `rfq up` serves.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrySettings {
    /// Address of the embedded schema registry (Confluent's REST API; port
    /// 0: any free port).
    #[arg(
        long,
        env = "RFQ_SCHEMA_REGISTRY_ADDR",
        default_value = "127.0.0.1:8081"
    )]
    pub schema_registry_addr: std::net::SocketAddr,

    /// Compacted topic the embedded registry keeps its schemas in.
    #[arg(long, env = "RFQ_SCHEMAS_TOPIC", default_value = "rfq.schemas")]
    pub schemas_topic: String,

    /// The operator's password of the embedded registry (user
    /// `rfq-operator`; 16 to 256 characters of letters, digits and
    /// `-._~+/=`). Without it, `rfq up` makes a random one at every start
    /// (handed to its own components, never printed) and `rfq registry`
    /// serves everyone.
    #[arg(
        long = "registry-operator-password",
        env = "RFQ_REGISTRY_OPERATOR_PASSWORD",
        hide_env_values = true
    )]
    pub operator_password: Option<String>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
