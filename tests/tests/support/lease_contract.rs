//! The `LeaseStore` contract, each property an async fn over any store, starting from an
//! empty one: what every store of this workspace is held to (`tests/tests/leases.rs` for
//! `MemoryLeases` and `FileLeases`, `async-tasks-postgres/tests/semantics.rs` for
//! `PgLeases`, which includes this file by its path).
//!
//! Expiry is shown with a zero `ttl`: a term that has already expired when granted.
//! [`each_property!`] names every property, for a binary to make its tests from them.
#![allow(dead_code)]

use std::time::Duration;

use async_tasks::lease::{LeaseStore, Term};

/// The `ttl` of a term that must not expire during a test.
pub const TTL: Duration = Duration::from_secs(15);

/// `try_acquire` for [`TTL`]; the store must answer.
pub async fn acquire(store: &dyn LeaseStore, name: &str, holder: &str) -> Option<Term> {
    store
        .try_acquire(name, holder, TTL)
        .await
        .expect("the store answers")
}

/// `renew` for [`TTL`]; the store must answer.
pub async fn renew(store: &dyn LeaseStore, term: &Term) -> bool {
    store.renew(term, TTL).await.expect("the store answers")
}

/// `release`; the store must answer.
pub async fn release(store: &dyn LeaseStore, term: &Term) {
    store.release(term).await.expect("the store answers");
}

pub async fn a_free_lease_is_granted_with_a_first_fence(store: &dyn LeaseStore) {
    let term = acquire(store, "outbox", "web-1").await.expect("free");
    assert_eq!(
        (term.name(), term.holder(), term.fence()),
        ("outbox", "web-1", 1)
    );
}

pub async fn a_held_lease_is_refused_to_everyone(store: &dyn LeaseStore) {
    let held = acquire(store, "outbox", "web-1").await.unwrap();
    assert_eq!(acquire(store, "outbox", "web-2").await, None);
    // Holder ids are meant to be unique: two replicas given the same one must not both
    // lead, so the holder itself is refused too.
    assert_eq!(acquire(store, "outbox", "web-1").await, None);
    assert!(renew(store, &held).await, "the refusals changed nothing");
}

pub async fn leases_of_other_names_are_apart(store: &dyn LeaseStore) {
    let a = acquire(store, "a", "web-1").await.unwrap();
    let b = acquire(store, "b", "web-2")
        .await
        .expect("another name is free");
    assert_eq!((a.fence(), b.fence()), (1, 1));
    release(store, &a).await;
    assert!(renew(store, &b).await);
}

pub async fn a_renew_holds_only_for_the_very_term(store: &dyn LeaseStore) {
    let term = acquire(store, "outbox", "web-1").await.unwrap();
    assert!(renew(store, &term).await);
    assert!(renew(store, &term).await, "again");
    let wrong_fence = Term::new("outbox", "web-1", term.fence() + 1);
    assert!(!renew(store, &wrong_fence).await);
    let older_fence = Term::new("outbox", "web-1", term.fence() - 1);
    assert!(!renew(store, &older_fence).await);
    let wrong_holder = Term::new("outbox", "web-2", term.fence());
    assert!(!renew(store, &wrong_holder).await);
    let other_name = Term::new("reports", "web-1", term.fence());
    assert!(!renew(store, &other_name).await);
    assert!(
        renew(store, &term).await,
        "the failed renews changed nothing"
    );
}

pub async fn a_released_term_cannot_renew_and_frees_the_lease(store: &dyn LeaseStore) {
    let term = acquire(store, "outbox", "web-1").await.unwrap();
    release(store, &term).await;
    assert!(!renew(store, &term).await);
    let next = acquire(store, "outbox", "web-1").await.expect("released");
    assert!(next.fence() > term.fence());
}

pub async fn a_term_taken_over_cannot_renew(store: &dyn LeaseStore) {
    // Expired at once (a zero ttl), then taken by another holder.
    let first = store
        .try_acquire("outbox", "web-1", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    let second = acquire(store, "outbox", "web-2").await.expect("expired");
    assert!(second.fence() > first.fence());
    assert!(!renew(store, &first).await);
    assert!(renew(store, &second).await);
}

pub async fn an_expired_term_cannot_renew_even_if_no_one_took_it(store: &dyn LeaseStore) {
    let term = store
        .try_acquire("outbox", "web-1", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(!renew(store, &term).await);
}

pub async fn a_release_never_frees_a_later_term(store: &dyn LeaseStore) {
    let first = acquire(store, "outbox", "web-1").await.unwrap();
    release(store, &first).await;
    let second = acquire(store, "outbox", "web-1").await.unwrap();
    // A late or repeated release of the first term, by the same holder id.
    release(store, &first).await;
    assert_eq!(acquire(store, "outbox", "web-2").await, None);
    assert!(renew(store, &second).await);
    // Nor does a term that merely claims the holder, or the fence.
    release(store, &Term::new("outbox", "web-2", second.fence())).await;
    release(store, &Term::new("outbox", "web-1", second.fence() + 1)).await;
    assert!(renew(store, &second).await);
    release(store, &second).await;
    assert!(acquire(store, "outbox", "web-2").await.is_some());
}

pub async fn releasing_a_free_lease_does_nothing(store: &dyn LeaseStore) {
    release(store, &Term::new("never-taken", "web-1", 1)).await;
    let term = acquire(store, "never-taken", "web-1").await.unwrap();
    assert_eq!(term.fence(), 1);
}

pub async fn fences_grow_across_releases_and_expiries(store: &dyn LeaseStore) {
    let mut last = 0;
    for round in 0..6 {
        let holder = format!("web-{}", round % 3);
        let ttl = if round % 2 == 0 { TTL } else { Duration::ZERO };
        let term = store
            .try_acquire("outbox", &holder, ttl)
            .await
            .unwrap()
            .expect("released or expired");
        assert!(term.fence() > last, "{term:?} after fence {last}");
        last = term.fence();
        if ttl == TTL {
            release(store, &term).await;
        }
    }
}

/// Calls `$tests!` with the name of every property of the contract.
macro_rules! each_property {
    ($tests:ident) => {
        $tests!(
            a_free_lease_is_granted_with_a_first_fence,
            a_held_lease_is_refused_to_everyone,
            leases_of_other_names_are_apart,
            a_renew_holds_only_for_the_very_term,
            a_released_term_cannot_renew_and_frees_the_lease,
            a_term_taken_over_cannot_renew,
            an_expired_term_cannot_renew_even_if_no_one_took_it,
            a_release_never_frees_a_later_term,
            releasing_a_free_lease_does_nothing,
            fences_grow_across_releases_and_expiries,
        );
    };
}
pub(crate) use each_property;
