use super::{GeoPoint, ProviderId, Region};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Whether a provider takes RFQs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Takes RFQs from within the vicinity radius until the registration
    /// expires.
    Online,
    /// Left (its adapter shut down): address it no more.
    Offline,
}

/// A provider's registration, renewed by its adapter on the providers topic.
/// The producer addresses an RFQ to the providers within the vicinity radius
/// of its pickup point whose latest registration is online and not expired.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderHeartbeat {
    /// The provider.
    pub provider: ProviderId,
    /// The adapter that hosts it (for operators).
    pub adapter: String,
    /// The region of `position` (what the producer finds it by).
    pub region: Region,
    /// Where it is.
    pub position: GeoPoint,
    /// Online or leaving.
    pub status: ProviderStatus,
    /// When the adapter sent this.
    pub at: DateTime<Utc>,
    /// How long this registration holds without a renewal.
    pub valid_for: Duration,
}

impl ProviderHeartbeat {
    /// Whether the provider is to be addressed at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        let expires = chrono::Duration::from_std(self.valid_for)
            .ok()
            .and_then(|valid| self.at.checked_add_signed(valid));
        self.status == ProviderStatus::Online && expires.is_some_and(|expires| now < expires)
    }
}
