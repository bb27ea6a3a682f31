//! Partners' identities: what the store keeps of a partner's two secrets
//! (its Kafka SCRAM credential and the digest of its registry password),
//! and the directory the broker's front and the schema registry look them
//! up in, remembered for [`CACHE_FOR`] like API keys are.
//!
//! Neither secret is kept: `rfq partners add` prints them once. A rotated
//! or removed partner's old secrets stop working everywhere within
//! [`CACHE_FOR`].

use super::{KeyDigest, scram::ScramCredential};
use crate::PartnerName;
use chrono::{DateTime, Utc};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How long a partner read from the directory is remembered (found or not).
pub const CACHE_FOR: Duration = Duration::from_secs(30);

/// A remembered partner older than this is read again when a password
/// does not match it: a rotated partner's new password works within this
/// time (and then its old one no longer does).
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// Partners remembered at most; beyond, the memory starts over.
const CACHE_MAX: usize = 10_000;

/// A partner as stored: never a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// Its name: its Kafka user, registry user, namespace and door.
    pub name: PartnerName,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When its secrets were last replaced (its creation, until rotated).
    pub rotated_at: DateTime<Utc>,
    /// Its Kafka credential (SASL SCRAM-SHA-256).
    pub scram: ScramCredential,
    /// The SHA-256 of its registry password.
    pub registry_digest: KeyDigest,
    /// Removed: its secrets no longer work (kept so its name and door are
    /// never handed to another partner by mistake).
    pub removed: bool,
}

/// Where partners are looked up (the result store).
#[async_trait::async_trait]
pub trait PartnerDirectory: Send + Sync {
    /// A partner by name, removed or not; an error says why the directory
    /// cannot be read.
    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, String>;

    /// Every partner, removed ones included, by name.
    async fn partners(&self) -> Result<Vec<Partner>, String>;

    /// The Kafka credential of a partner that is not removed.
    async fn scram_credential(&self, name: &str) -> Result<Option<ScramCredential>, String> {
        Ok(self.active(name).await?.map(|partner| partner.scram))
    }

    /// The registry password digest of a partner that is not removed.
    async fn registry_digest(&self, name: &str) -> Result<Option<KeyDigest>, String> {
        Ok(self
            .active(name)
            .await?
            .map(|partner| partner.registry_digest))
    }

    /// Whether `digest` is the registry password digest of the partner
    /// `name` (not removed).
    async fn registry_password_is(&self, name: &str, digest: &KeyDigest) -> Result<bool, String> {
        Ok(self.registry_digest(name).await?.as_ref() == Some(digest))
    }

    /// A partner by a name from outside (`None` if not a valid name, not
    /// known or removed).
    async fn active(&self, name: &str) -> Result<Option<Partner>, String> {
        let Ok(name) = PartnerName::parse(name) else {
            return Ok(None);
        };
        Ok(self
            .partner(&name)
            .await?
            .filter(|partner| !partner.removed))
    }
}

/// Lookups remembered: the partner (or none) and when read.
type Remembered = HashMap<PartnerName, (Option<Partner>, Instant)>;

/// A directory whose lookups by name are remembered for [`CACHE_FOR`], so
/// a flood of authentications costs one read per partner per period.
#[derive(Clone)]
pub struct CachedPartners {
    inner: Arc<dyn PartnerDirectory>,
    cache: Arc<Mutex<Remembered>>,
}

impl CachedPartners {
    /// Remembers what `inner` answers.
    pub fn new(inner: Arc<dyn PartnerDirectory>) -> CachedPartners {
        CachedPartners {
            inner,
            cache: Arc::default(),
        }
    }

    /// Reads `name` from the directory and remembers it.
    async fn reload(&self, name: &PartnerName) -> Result<Option<Partner>, String> {
        let partner = self.inner.partner(name).await?;
        let mut cache = self.cache();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(name.clone(), (partner.clone(), Instant::now()));
        Ok(partner)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl PartnerDirectory for CachedPartners {
    async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, String> {
        if let Some((partner, at)) = self.cache().get(name)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(partner.clone());
        }
        self.reload(name).await
    }

    async fn registry_password_is(&self, name: &str, digest: &KeyDigest) -> Result<bool, String> {
        let Ok(parsed) = PartnerName::parse(name) else {
            return Ok(false);
        };
        let matches = |partner: &Option<Partner>| {
            partner
                .as_ref()
                .is_some_and(|p| !p.removed && &p.registry_digest == digest)
        };
        let remembered = self.cache().get(&parsed).cloned();
        match remembered {
            Some((partner, at)) if at.elapsed() < CACHE_FOR => {
                if matches(&partner) || at.elapsed() < RECHECK_AFTER {
                    return Ok(matches(&partner));
                }
                Ok(matches(&self.reload(&parsed).await?))
            }
            _ => Ok(matches(&self.reload(&parsed).await?)),
        }
    }

    async fn partners(&self) -> Result<Vec<Partner>, String> {
        self.inner.partners().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ApiKey;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One partner, counting reads.
    struct One(Partner, AtomicUsize);

    #[async_trait::async_trait]
    impl PartnerDirectory for One {
        async fn partner(&self, name: &PartnerName) -> Result<Option<Partner>, String> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok((name == &self.0.name).then(|| self.0.clone()))
        }
        async fn partners(&self) -> Result<Vec<Partner>, String> {
            Ok(vec![self.0.clone()])
        }
    }

    fn partner(removed: bool) -> Partner {
        let now = Utc::now();
        Partner {
            name: PartnerName::parse("acme").expect("valid"),
            created_at: now,
            rotated_at: now,
            scram: ScramCredential::derive("pw", b"salt", 4096).credential,
            registry_digest: ApiKey::generate().digest(),
            removed,
        }
    }

    /// A partner whose registry digest can be replaced (a rotation).
    struct Rotating(Mutex<Partner>);

    #[async_trait::async_trait]
    impl PartnerDirectory for Rotating {
        async fn partner(&self, _: &PartnerName) -> Result<Option<Partner>, String> {
            Ok(Some(self.0.lock().unwrap().clone()))
        }
        async fn partners(&self) -> Result<Vec<Partner>, String> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_rotated_password_works_within_a_second_and_the_old_one_stops() {
        let (old, new) = (ApiKey::generate().digest(), ApiKey::generate().digest());
        let inner = Arc::new(Rotating(Mutex::new(Partner {
            registry_digest: old.clone(),
            ..partner(false)
        })));
        let cached = CachedPartners::new(inner.clone());
        assert_eq!(cached.registry_password_is("acme", &old).await, Ok(true));
        inner.0.lock().unwrap().registry_digest = new.clone();
        // Read less than a second ago: neither re-read nor taken.
        assert_eq!(cached.registry_password_is("acme", &new).await, Ok(false));
        tokio::time::sleep(RECHECK_AFTER).await;
        assert_eq!(cached.registry_password_is("acme", &new).await, Ok(true));
        assert_eq!(cached.registry_password_is("acme", &old).await, Ok(false));
        assert_eq!(
            cached.registry_password_is("Bad Name", &new).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn lookups_are_remembered_and_removed_partners_have_no_credentials() {
        let inner = Arc::new(One(partner(false), AtomicUsize::new(0)));
        let cached = CachedPartners::new(inner.clone());
        for _ in 0..3 {
            assert!(cached.scram_credential("acme").await.unwrap().is_some());
        }
        assert_eq!(inner.1.load(Ordering::SeqCst), 1);
        assert_eq!(cached.registry_digest("Not A Name").await, Ok(None));
        assert_eq!(cached.registry_digest("bolt").await, Ok(None));
        let removed = CachedPartners::new(Arc::new(One(partner(true), AtomicUsize::new(0))));
        assert_eq!(removed.scram_credential("acme").await, Ok(None));
        assert_eq!(removed.registry_digest("acme").await, Ok(None));
        assert_eq!(removed.partners().await.map(|p| p.len()), Ok(1));
    }
}
