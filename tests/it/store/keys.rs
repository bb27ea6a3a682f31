//! The idempotency keys of the store contract: the first claim of a
//! (customer, key) wins, later ones see it until it expires or is released;
//! keys of different customers are independent; claims survive reopening.
//! API keys name their principal and role (issue 27). Every case names
//! its own customer, so a store with data changes nothing.

use super::Opener;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rfq_core::{
    CorrelationId, CustomerId, IdempotencyKey,
    auth::{ApiKey, Principal, Role},
};
use rfq_store::{Claimed, KeyClaim, Store};

/// Every case of the idempotency keys, against `store` (and `open`).
pub async fn conformance(store: &dyn Store, open: &Opener) {
    the_first_claim_wins_and_later_ones_see_it(store).await;
    completing_and_releasing_touch_only_the_holder(store).await;
    keys_are_scoped_by_customer(store).await;
    an_expired_claim_reads_as_absent(store).await;
    claims_survive_reopening(store, open).await;
    api_keys_name_their_principal(store, open).await;
}

/// Now, at the stores' precision (milliseconds).
fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .unwrap()
}

/// A customer of this case alone.
fn customer() -> CustomerId {
    CustomerId::parse(&format!("customer-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

/// A claim of `key` by `customer` at `at` for a new RFQ, kept a day.
fn claim(customer: &CustomerId, key: &str, fingerprint: &str, at: DateTime<Utc>) -> KeyClaim {
    KeyClaim {
        customer: customer.clone(),
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: fingerprint.to_owned(),
        rfq: CorrelationId::new_random(),
        claimed_at: at,
        expires_at: at + Duration::hours(24),
        completed: false,
    }
}

async fn the_first_claim_wins_and_later_ones_see_it(store: &dyn Store) {
    const KEY: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let (customer, at) = (customer(), now());
    let first = claim(&customer, KEY, "fp-1", at);
    assert_eq!(store.claim_key(&first, at).await.unwrap(), Claimed::Won);
    // A retry (same request) and a reuse (another request) both see the first.
    let later = at + Duration::seconds(5);
    for fingerprint in ["fp-1", "fp-2"] {
        let again = claim(&customer, KEY, fingerprint, later);
        assert_eq!(
            store.claim_key(&again, later).await.unwrap(),
            Claimed::Held(first.clone())
        );
    }
    // A key is exact: another spelling is another key.
    let other = claim(&customer, &KEY.to_uppercase(), "fp-1", at);
    assert_eq!(store.claim_key(&other, at).await.unwrap(), Claimed::Won);
}

async fn completing_and_releasing_touch_only_the_holder(store: &dyn Store) {
    let (customer, at) = (customer(), now());
    let held = claim(&customer, "k", "fp", at);
    assert_eq!(store.claim_key(&held, at).await.unwrap(), Claimed::Won);
    // Someone else's RFQ under the same key neither completes nor frees it.
    let stranger = claim(&customer, "k", "fp", at);
    store.complete_key(&stranger).await.unwrap();
    store.release_key(&stranger).await.unwrap();
    let Claimed::Held(seen) = store.claim_key(&stranger, at).await.unwrap() else {
        panic!("the key was freed by a claim that did not hold it");
    };
    assert_eq!((seen.rfq, seen.completed), (held.rfq, false));
    store.complete_key(&held).await.unwrap();
    let completed = KeyClaim {
        completed: true,
        ..held.clone()
    };
    assert_eq!(
        store.claim_key(&stranger, at).await.unwrap(),
        Claimed::Held(completed)
    );
    // Released by its holder, the key is free for the next claim.
    store.release_key(&held).await.unwrap();
    assert_eq!(store.claim_key(&stranger, at).await.unwrap(), Claimed::Won);
    assert_eq!(
        store.claim_key(&held, at).await.unwrap(),
        Claimed::Held(stranger)
    );
}

async fn keys_are_scoped_by_customer(store: &dyn Store) {
    let at = now();
    let alice = claim(&customer(), "shared-key", "fp", at);
    let bob = claim(&customer(), "shared-key", "fp", at);
    assert_eq!(store.claim_key(&alice, at).await.unwrap(), Claimed::Won);
    assert_eq!(store.claim_key(&bob, at).await.unwrap(), Claimed::Won);
    let again = claim(&alice.customer, "shared-key", "fp", at);
    assert_eq!(
        store.claim_key(&again, at).await.unwrap(),
        Claimed::Held(alice)
    );
}

async fn an_expired_claim_reads_as_absent(store: &dyn Store) {
    let (customer, at) = (customer(), now());
    let first = claim(&customer, "k", "fp-1", at);
    assert_eq!(store.claim_key(&first, at).await.unwrap(), Claimed::Won);
    // A millisecond before it expires, the key is still held...
    let just_before = first.expires_at - Duration::milliseconds(1);
    let early = claim(&customer, "k", "fp-2", just_before);
    assert_eq!(
        store.claim_key(&early, just_before).await.unwrap(),
        Claimed::Held(first.clone())
    );
    // ...at its expiry it is free, whatever it was used for.
    let late = claim(&customer, "k", "fp-2", first.expires_at);
    assert_eq!(
        store.claim_key(&late, first.expires_at).await.unwrap(),
        Claimed::Won
    );
    assert_eq!(
        store.claim_key(&early, first.expires_at).await.unwrap(),
        Claimed::Held(late)
    );
}

async fn claims_survive_reopening(store: &dyn Store, open: &Opener) {
    let (customer, at) = (customer(), now());
    let first = claim(&customer, "survivor", "fp", at);
    assert_eq!(store.claim_key(&first, at).await.unwrap(), Claimed::Won);
    store.complete_key(&first).await.unwrap();
    let reopened = open().await;
    let retry = claim(&customer, "survivor", "fp", at);
    assert_eq!(
        reopened.claim_key(&retry, at).await.unwrap(),
        Claimed::Held(KeyClaim {
            completed: true,
            ..first
        })
    );
}

/// API keys (by digest) name who they speak for, with its role;
/// recording one again changes nothing; they survive reopening and are
/// listed with their roles.
async fn api_keys_name_their_principal(store: &dyn Store, open: &Opener) {
    let (alice, bob) = (customer(), customer());
    let (alice, bob) = (Principal::Customer(alice), Principal::Customer(bob));
    let key = ApiKey::generate();
    assert_eq!(store.api_key_principal(&key.digest()).await.unwrap(), None);
    store.add_api_key(&key.digest(), &alice).await.unwrap();
    store.add_api_key(&key.digest(), &alice).await.unwrap();
    assert_eq!(
        store.api_key_principal(&key.digest()).await.unwrap(),
        Some(alice.clone())
    );
    let other = ApiKey::generate();
    store.add_api_key(&other.digest(), &bob).await.unwrap();
    let partner = Principal::parse("partner:acme").unwrap();
    let operator =
        Principal::parse(&format!("operator:ops-{}", uuid::Uuid::new_v4().simple())).unwrap();
    let (acme_key, ops_key) = (ApiKey::generate(), ApiKey::generate());
    store
        .add_api_key(&acme_key.digest(), &partner)
        .await
        .unwrap();
    store
        .add_api_key(&ops_key.digest(), &operator)
        .await
        .unwrap();
    let reopened = open().await;
    for (key, principal) in [
        (&key, &alice),
        (&other, &bob),
        (&acme_key, &partner),
        (&ops_key, &operator),
    ] {
        assert_eq!(
            reopened
                .api_key_principal(&key.digest())
                .await
                .unwrap()
                .as_ref(),
            Some(principal)
        );
    }
    assert_eq!(
        reopened
            .api_key_principal(&acme_key.digest())
            .await
            .unwrap()
            .map(|p| p.role()),
        Some(Role::Partner)
    );
    let unknown = ApiKey::generate();
    assert_eq!(
        reopened.api_key_principal(&unknown.digest()).await.unwrap(),
        None
    );
    // Listed by digest, with their roles (never the key).
    let listed = reopened.api_keys().await.unwrap();
    let digests: Vec<_> = listed.iter().map(|k| &k.digest).collect();
    assert!(digests.windows(2).all(|w| w[0] < w[1]), "by digest");
    for (key, principal) in [(&key, &alice), (&acme_key, &partner), (&ops_key, &operator)] {
        let found = listed.iter().find(|k| k.digest == key.digest());
        assert_eq!(found.map(|k| &k.principal), Some(principal));
        let age = Utc::now() - found.unwrap().created_at;
        assert!(age < Duration::minutes(10), "{age}");
    }
}
