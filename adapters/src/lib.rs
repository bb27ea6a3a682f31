//! Unicorn adapters: the "unicorn management service" of the seed
//! architecture, with a simulated fleet standing in for the unicorn app.
//!
//! An adapter hosts a fleet of unicorns, each with a position and so a
//! region. It registers them on the providers topic (heartbeats, so the
//! producer can address them), consumes the requests topic in its own
//! consumer group, skips by key every RFQ from a region beyond the vicinity
//! radius of all its unicorns, and for each RFQ addressed to one of its
//! unicorns sends that unicorn's quote or decline, after a simulated think
//! time, to the RFQ's return address, keyed by correlation ID. An offset is stored only once every answer of its
//! record is acknowledged by the broker: at the return address, or on the
//! dead-letter topic for an answer that cannot be encoded (dead-lettered at
//! once) or still cannot be delivered past the RFQ's deadline. Answers still
//! thinking at shutdown are abandoned with their offsets unstored: the RFQ
//! is redelivered.
//!
//! Beside the simulated unicorns, an adapter stands in for partners that
//! answer over HTTP (`--partner NAME=URL`, [`partner`]): one call per RFQ
//! and partner bound by the deadline, a bulkhead and a retry budget per
//! partner, a circuit breaker, and callbacks for answers that come later.
//!
//! And it hosts partners' doors (`--door NAME`, [`run_doors`]): per
//! partner, its own topics, carrying only the RFQs addressed to its
//! providers (without the customer or its competitors) and its answers
//! and heartbeats, checked against its namespace before they are
//! forwarded.

mod config;
mod delivery;
mod door;
pub mod fleet;
mod heartbeat;
mod hosting;
mod metrics;
pub mod partner;
mod worker;

pub use config::{AdapterSettings, FleetSettings};
pub use door::run_doors;
pub use hosting::{run, run_hosting, run_hosting_doors};
pub use partner::{PartnerSettings, PartnerSpec};
