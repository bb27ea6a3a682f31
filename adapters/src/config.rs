use crate::PartnerSettings;
use rfq_core::{Currency, GeoPoint, PartnerName};
use std::time::Duration;

/// Settings of one adapter process (besides the
/// [`PipelineSettings`](rfq_core::pipeline::PipelineSettings) every role shares).
#[derive(Debug, Clone, clap::Args)]
pub struct AdapterSettings {
    /// Name of this adapter: prefixes its unicorns' ids and names its consumer group.
    #[arg(
        long = "adapter-name",
        env = "RFQ_ADAPTER_NAME",
        default_value = "berlin"
    )]
    pub name: String,

    /// How often registrations are renewed.
    #[arg(
        long = "heartbeat-seconds",
        env = "RFQ_HEARTBEAT_SECONDS",
        default_value_t = 10
    )]
    pub heartbeat_seconds: u64,

    /// The simulated fleet.
    #[command(flatten)]
    pub fleet: FleetSettings,

    /// HTTP partners, hosted instead of the simulated fleet.
    #[command(flatten)]
    pub partners: PartnerSettings,

    /// A partner's door to host, by the partner's name (repeatable; in a
    /// settings file, a list under `door`): its topics `rfq.door.NAME.…`
    /// carry the RFQs addressed to its providers (`NAME-…`) and its
    /// checked answers and heartbeats. With doors (or `--partner`) and no
    /// simulated fleet asked for, the adapter hosts no fleet.
    #[arg(
        long = "door",
        visible_alias = "doors",
        env = "RFQ_DOORS",
        value_delimiter = ',',
        value_parser = parse_partner
    )]
    pub doors: Vec<PartnerName>,

    /// How long before an RFQ's deadline a door asks its partner's answers
    /// to be in (a door RFQ's `answer_by`): the time the door needs to
    /// forward them.
    #[arg(
        long = "door-answer-margin-ms",
        env = "RFQ_DOOR_ANSWER_MARGIN_MS",
        default_value_t = 250
    )]
    pub door_margin_ms: u64,
}

impl Default for AdapterSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}

impl AdapterSettings {
    /// Settings of the adapter `name` with a simulated `fleet`, every other
    /// setting at its default.
    pub fn new(name: &str, fleet: FleetSettings) -> Self {
        Self {
            name: name.to_owned(),
            fleet,
            ..Self::default()
        }
    }

    /// The consumer group: one per adapter name, so that every adapter sees
    /// every RFQ (and reads those of the regions its unicorns may be
    /// addressed from).
    pub fn group_id(&self) -> String {
        format!("rfq-adapter-{}", self.name)
    }

    /// How often registrations are renewed.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds.max(1))
    }
}

fn parse_partner(text: &str) -> Result<PartnerName, String> {
    PartnerName::parse(text).map_err(|e| e.to_string())
}

fn parse_currency(text: &str) -> Result<Currency, String> {
    Currency::parse(text).map_err(|e| e.to_string())
}

/// The simulated fleet: where the unicorns are and how they behave.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetSettings {
    /// Centre of the served area (LAT,LON). Default: central Berlin.
    #[arg(
        long = "fleet-center",
        env = "RFQ_FLEET_CENTER",
        default_value = "52.52,13.40"
    )]
    pub center: GeoPoint,

    /// Rings of regions around the centre's region that the fleet covers:
    /// 0 = the centre's region only, 1 = a 3 × 3 block of regions.
    #[arg(long = "fleet-ring", env = "RFQ_FLEET_RING", default_value_t = 1)]
    pub ring: u8,

    /// Unicorns per region.
    #[arg(
        long = "fleet-per-region",
        env = "RFQ_FLEET_PER_REGION",
        default_value_t = 4
    )]
    pub per_region: usize,

    /// Unicorns per region that never answer (to exercise deadlines).
    #[arg(
        long = "fleet-silent-per-region",
        env = "RFQ_FLEET_SILENT_PER_REGION",
        default_value_t = 0
    )]
    pub silent_per_region: usize,

    /// Fastest answer, in milliseconds.
    #[arg(
        long = "fleet-latency-min-ms",
        env = "RFQ_FLEET_LATENCY_MIN_MS",
        default_value_t = 100
    )]
    pub latency_min_ms: u64,

    /// Slowest answer, in milliseconds (uniform in between).
    #[arg(
        long = "fleet-latency-max-ms",
        env = "RFQ_FLEET_LATENCY_MAX_MS",
        default_value_t = 800
    )]
    pub latency_max_ms: u64,

    /// Probability that a unicorn declines an RFQ.
    #[arg(
        long = "fleet-decline-rate",
        env = "RFQ_FLEET_DECLINE_RATE",
        default_value_t = 0.1
    )]
    pub decline_rate: f64,

    /// Base fare, in minor units.
    #[arg(
        long = "fleet-base-fare",
        env = "RFQ_FLEET_BASE_FARE",
        default_value_t = 390
    )]
    pub base_fare_minor: i64,

    /// Price per kilometre of ride, in minor units.
    #[arg(long = "fleet-per-km", env = "RFQ_FLEET_PER_KM", default_value_t = 200)]
    pub per_km_minor: i64,

    /// Currency of the quotes.
    #[arg(long = "fleet-currency", env = "RFQ_FLEET_CURRENCY", default_value = "EUR", value_parser = parse_currency)]
    pub currency: Currency,

    /// Seed of the fleet's positions and temperaments (answers stay random).
    #[arg(long = "fleet-seed", env = "RFQ_FLEET_SEED", default_value_t = 42)]
    pub seed: u64,
}

impl Default for FleetSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}
