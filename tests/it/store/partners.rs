//! Partners in the store contract: a name is added once (removed or not),
//! listed by name, rotated and removed only while it is there, and none of
//! it is lost by reopening. Every case names partners of its own, so a
//! store with data changes nothing.

use super::Opener;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rfq_core::{
    PartnerName,
    auth::{ApiKey, partners::Partner, scram::ScramCredential},
};
use rfq_store::Store;

/// Every case of the partners, against `store` (and `open`).
pub async fn conformance(store: &dyn Store, open: &Opener) {
    a_partner_is_added_once_and_read_back(store, open).await;
    rotating_replaces_both_secrets(store).await;
    a_removed_partner_stays_removed(store, open).await;
}

/// Now, at the stores' precision (milliseconds).
fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .unwrap()
}

/// A partner name of this case alone (letters and digits only).
fn name() -> PartnerName {
    let random = uuid::Uuid::new_v4().simple().to_string();
    PartnerName::parse(&format!("p{}", &random[..20])).unwrap()
}

fn partner(name: &PartnerName, password: &str) -> Partner {
    let at = now();
    Partner {
        name: name.clone(),
        created_at: at,
        rotated_at: at,
        scram: ScramCredential::generate(password).credential,
        registry_digest: ApiKey::generate().digest(),
        removed: false,
    }
}

async fn a_partner_is_added_once_and_read_back(store: &dyn Store, open: &Opener) {
    let (first, second) = (name(), name());
    let acme = partner(&first, "kafka-secret");
    assert_eq!(store.partner(&first).await.unwrap(), None);
    assert!(store.add_partner(&acme).await.unwrap());
    // A second add of the name changes nothing, whatever it carries.
    assert!(!store.add_partner(&partner(&first, "other")).await.unwrap());
    assert_eq!(store.partner(&first).await.unwrap(), Some(acme.clone()));
    let bolt = partner(&second, "bolt-secret");
    assert!(store.add_partner(&bolt).await.unwrap());
    let reopened = open().await;
    let listed = reopened.partners().await.unwrap();
    let ours: Vec<&Partner> = listed
        .iter()
        .filter(|p| p.name == first || p.name == second)
        .collect();
    let mut expected = vec![&acme, &bolt];
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(ours, expected);
    let names: Vec<&PartnerName> = listed.iter().map(|p| &p.name).collect();
    assert!(names.is_sorted(), "listed by name: {names:?}");
}

async fn rotating_replaces_both_secrets(store: &dyn Store) {
    let name = name();
    let before = partner(&name, "old");
    assert!(store.add_partner(&before).await.unwrap());
    let (scram, digest) = (
        ScramCredential::generate("new").credential,
        ApiKey::generate().digest(),
    );
    let at = before.created_at + Duration::seconds(10);
    assert!(
        store
            .rotate_partner(&name, &scram, &digest, at)
            .await
            .unwrap()
    );
    let after = store.partner(&name).await.unwrap().expect("still there");
    assert_eq!(
        after,
        Partner {
            rotated_at: at,
            scram: scram.clone(),
            registry_digest: digest.clone(),
            ..before
        }
    );
    // Nobody to rotate under an unknown name.
    let unknown = self::name();
    assert!(
        !store
            .rotate_partner(&unknown, &scram, &digest, at)
            .await
            .unwrap()
    );
    assert_eq!(store.partner(&unknown).await.unwrap(), None);
}

async fn a_removed_partner_stays_removed(store: &dyn Store, open: &Opener) {
    let name = name();
    let added = partner(&name, "secret");
    assert!(store.add_partner(&added).await.unwrap());
    assert!(store.remove_partner(&name).await.unwrap());
    assert!(!store.remove_partner(&name).await.unwrap());
    let removed = Partner {
        removed: true,
        ..added.clone()
    };
    assert_eq!(store.partner(&name).await.unwrap(), Some(removed.clone()));
    // Neither rotated nor added again: the name is not handed on.
    let (scram, digest) = (added.scram.clone(), ApiKey::generate().digest());
    assert!(
        !store
            .rotate_partner(&name, &scram, &digest, now())
            .await
            .unwrap()
    );
    assert!(!store.add_partner(&partner(&name, "again")).await.unwrap());
    let reopened = open().await;
    assert_eq!(reopened.partner(&name).await.unwrap(), Some(removed));
    assert!(!reopened.remove_partner(&self::name()).await.unwrap());
}
