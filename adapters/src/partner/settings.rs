//! The HTTP partners' settings: who they are (`--partner NAME=URL`) and the
//! resilience knobs every partner shares (timeout, bulkhead, retries,
//! breaker, callbacks).

use std::{net::SocketAddr, str::FromStr, time::Duration};
use url::Url;

/// One HTTP partner: `NAME=URL`, the base URL of its API
/// (`GET {URL}/providers`, `POST {URL}/quotes`; see `docs/partners.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSpec {
    /// The partner's name: lower-case letters, digits and `-`, at most 32.
    /// It prefixes its providers' ids (`NAME-ID`), names it in heartbeats
    /// (their `adapter`) and labels its metrics.
    pub name: String,
    /// The base URL of its API (http or https), ending in `/`.
    pub url: Url,
}

impl FromStr for PartnerSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, url) = text
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=URL, got {text:?}"))?;
        let name = name.trim();
        if name.is_empty()
            || name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "partner name {name:?}: lower-case letters, digits and '-', 1 to 32 of them"
            ));
        }
        let mut url = Url::parse(url.trim())
            .map_err(|error| format!("partner {name}: URL {url:?}: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(format!("partner {name}: {url} is not an http(s) base URL"));
        }
        // A base: `join("quotes")` must keep its path.
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(PartnerSpec {
            name: name.to_owned(),
            url,
        })
    }
}

/// HTTP partners hosted by this adapter instead of a simulated fleet.
#[derive(Debug, Clone, clap::Args)]
pub struct PartnerSettings {
    /// An HTTP partner, `NAME=URL` (repeatable; in a settings file, a list).
    /// With at least one, the adapter hosts these partners' providers and
    /// no simulated fleet.
    #[arg(long = "partner", env = "RFQ_PARTNERS", value_delimiter = ',')]
    pub partners: Vec<PartnerSpec>,

    /// Longest wait for one call to a partner; never past the RFQ's
    /// deadline less `--partner-deadline-margin-ms`.
    #[arg(
        long = "partner-timeout-ms",
        env = "RFQ_PARTNER_TIMEOUT_MS",
        default_value_t = 3000
    )]
    pub timeout_ms: u64,

    /// How long before an RFQ's deadline its partners' answers must be in
    /// (the time an answer needs to reach the quotes topic).
    #[arg(
        long = "partner-deadline-margin-ms",
        env = "RFQ_PARTNER_DEADLINE_MARGIN_MS",
        default_value_t = 250
    )]
    pub deadline_margin_ms: u64,

    /// Calls in flight to one partner at most (its bulkhead).
    #[arg(
        long = "partner-concurrency",
        env = "RFQ_PARTNER_CONCURRENCY",
        default_value_t = 32
    )]
    pub concurrency: usize,

    /// Calls waiting for a place in a partner's bulkhead at most; beyond,
    /// a call is shed at once (`queue-full`).
    #[arg(
        long = "partner-queue",
        env = "RFQ_PARTNER_QUEUE",
        default_value_t = 64
    )]
    pub queue: usize,

    /// Retries of one call at most (only where safe: no answer was
    /// received, or 429/502/503/504; the correlation id is the call's
    /// idempotency key).
    #[arg(
        long = "partner-retries",
        env = "RFQ_PARTNER_RETRIES",
        default_value_t = 2
    )]
    pub retries: u32,

    /// Retries a partner may get per call made (its retry budget: each
    /// call earns this fraction of a retry, up to 10 in reserve), so
    /// retries cannot multiply the load on a partner that is failing.
    #[arg(
        long = "partner-retry-budget",
        env = "RFQ_PARTNER_RETRY_BUDGET",
        default_value_t = 0.2
    )]
    pub retry_budget: f64,

    /// Consecutive failed attempts (a retry is one) that open a partner's
    /// circuit breaker.
    #[arg(
        long = "partner-breaker-failures",
        env = "RFQ_PARTNER_BREAKER_FAILURES",
        default_value_t = 5
    )]
    pub breaker_failures: u32,

    /// How long an open breaker skips its partner before one probe call
    /// (half-open) may close it again.
    #[arg(
        long = "partner-breaker-open-ms",
        env = "RFQ_PARTNER_BREAKER_OPEN_MS",
        default_value_t = 10_000
    )]
    pub breaker_open_ms: u64,

    /// Open callbacks per partner at most (calls in flight, and `202`s
    /// awaiting their answers); a call beyond is skipped as `queue-full`.
    #[arg(
        long = "partner-max-callbacks",
        env = "RFQ_PARTNER_MAX_CALLBACKS",
        default_value_t = 10_000
    )]
    pub max_callbacks: usize,

    /// Where the adapter serves partners' callbacks.
    #[arg(
        long = "partner-callback-listen",
        env = "RFQ_PARTNER_CALLBACK_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    pub callback_listen: SocketAddr,

    /// The callbacks' base URL as partners reach it (behind a proxy, say);
    /// default: `http://` the address listened on.
    #[arg(long = "partner-callback-url", env = "RFQ_PARTNER_CALLBACK_URL")]
    pub callback_url: Option<Url>,

    /// How often each partner's provider list is fetched again.
    #[arg(
        long = "partner-refresh-seconds",
        env = "RFQ_PARTNER_REFRESH_SECONDS",
        default_value_t = 60
    )]
    pub refresh_seconds: u64,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        rfq_core::settings::defaults()
    }
}

impl PartnerSettings {
    /// The longest wait for one call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// How long before a deadline answers must be in.
    pub fn deadline_margin(&self) -> Duration {
        Duration::from_millis(self.deadline_margin_ms)
    }

    /// How long an open breaker stays open.
    pub fn breaker_open(&self) -> Duration {
        Duration::from_millis(self.breaker_open_ms)
    }

    /// How often provider lists are fetched again.
    pub fn refresh(&self) -> Duration {
        Duration::from_secs(self.refresh_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_is_a_name_and_a_base_url() {
        let spec: PartnerSpec = "acme=http://127.0.0.1:9000/api".parse().unwrap();
        assert_eq!(spec.name, "acme");
        assert_eq!(spec.url.as_str(), "http://127.0.0.1:9000/api/");
        assert_eq!(spec.url.join("quotes").unwrap().path(), "/api/quotes");
        for bad in [
            "acme",
            "=http://x/",
            "Acme=http://x/",
            "acme=ftp://x/",
            "acme=not a url",
            "a b=http://x/",
        ] {
            assert!(bad.parse::<PartnerSpec>().is_err(), "{bad}");
        }
    }
}
