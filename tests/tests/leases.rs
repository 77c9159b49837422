//! The lease stores as a user sees them: `MemoryLeases` and `FileLeases` held to the
//! `LeaseStore` contract (the same tests, one module per store), then what is particular
//! to each — `MemoryLeases`' paused clock and test hooks, `FileLeases` in one directory
//! opened twice — and `Lease`'s builder.
//!
//! Expiry is shown here with a zero `ttl` (a term that has already expired when granted)
//! for both stores, and with tokio's paused clock for `MemoryLeases`; `FileLeases`' expiry
//! by its clock is unit-tested in the crate, where the clock can be injected.
//! `lease_processes.rs` races `FileLeases` across OS processes; `lease_props.rs` checks
//! `MemoryLeases` against a model.

use std::sync::Arc;
use std::time::Duration;

use async_tasks::lease::{FileLeases, Lease, LeaseStore, MemoryLeases, Term};

const TTL: Duration = Duration::from_secs(15);

async fn acquire(store: &dyn LeaseStore, name: &str, holder: &str) -> Option<Term> {
    store
        .try_acquire(name, holder, TTL)
        .await
        .expect("the store answers")
}

async fn renew(store: &dyn LeaseStore, term: &Term) -> bool {
    store.renew(term, TTL).await.expect("the store answers")
}

async fn release(store: &dyn LeaseStore, term: &Term) {
    store.release(term).await.expect("the store answers");
}

/// The `LeaseStore` contract, each property a fn over any store.
mod contract {
    use super::*;

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
}

/// One test per property of the contract, for one store: `$make` returns the store and
/// whatever must live as long as it.
macro_rules! contract_tests {
    ($store:ident, $make:expr, $($property:ident),+ $(,)?) => {
        mod $store {
            use super::*;
            $(
                #[tokio::test(start_paused = true)]
                async fn $property() {
                    let (store, _keep) = $make;
                    contract::$property(&store).await;
                    // The same again through a shared `Arc<dyn LeaseStore>`.
                    let (store, _keep) = $make;
                    let shared: Arc<dyn LeaseStore> = Arc::new(store);
                    contract::$property(&shared).await;
                }
            )+
        }
    };
}

macro_rules! each_property {
    ($store:ident, $make:expr) => {
        contract_tests!(
            $store,
            $make,
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

each_property!(memory, (MemoryLeases::new(), ()));
each_property!(file, {
    let dir = tempfile::tempdir().expect("a temporary directory");
    (FileLeases::new(dir.path()).expect("a directory"), dir)
});

#[tokio::test(start_paused = true)]
async fn memory_leases_expire_by_tokios_paused_clock() {
    let leases = MemoryLeases::new();
    let first = acquire(&leases, "outbox", "web-1").await.unwrap();
    tokio::time::advance(TTL - Duration::from_millis(1)).await;
    assert_eq!(leases.holder("outbox"), Some(first.clone()));
    assert_eq!(acquire(&leases, "outbox", "web-2").await, None);

    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        leases.holder("outbox"),
        None,
        "expired at its expiry, not after"
    );
    assert!(!renew(&leases, &first).await);
    let second = acquire(&leases, "outbox", "web-2").await.expect("expired");
    assert_eq!(second.fence(), first.fence() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_memory_lease_renewed_in_time_holds_past_its_first_expiry() {
    let leases = MemoryLeases::new();
    let term = acquire(&leases, "outbox", "web-1").await.unwrap();
    for _ in 0..10 {
        tokio::time::advance(TTL - Duration::from_secs(1)).await;
        assert!(renew(&leases, &term).await);
    }
    tokio::time::advance(TTL - Duration::from_millis(1)).await;
    assert_eq!(leases.holder("outbox"), Some(term));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(leases.holder("outbox"), None);
}

#[tokio::test(start_paused = true)]
async fn revoke_frees_the_lease_at_once_and_its_holder_learns_it_at_the_next_renew() {
    let leases = MemoryLeases::new();
    let first = acquire(&leases, "outbox", "web-1").await.unwrap();
    assert_eq!(leases.revoke("outbox"), Some(first.clone()));
    assert_eq!(leases.holder("outbox"), None);
    assert!(!renew(&leases, &first).await);

    let second = acquire(&leases, "outbox", "web-1")
        .await
        .expect("free at once");
    assert!(second.fence() > first.fence());
    // A release by the revoked term does not touch the new one.
    release(&leases, &first).await;
    assert_eq!(leases.holder("outbox"), Some(second));

    assert_eq!(leases.revoke("never-taken"), None);
    tokio::time::advance(TTL).await;
    assert_eq!(
        leases.revoke("outbox"),
        None,
        "it had expired: nothing to take"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_memory_store_fails_every_call_and_changes_nothing() {
    let leases = MemoryLeases::new();
    let term = acquire(&leases, "outbox", "web-1").await.unwrap();
    leases.set_unavailable(true);

    let err = leases
        .try_acquire("reports", "web-1", TTL)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert!(leases.renew(&term, TTL).await.is_err());
    assert!(leases.release(&term).await.is_err());
    // The hooks still answer, and show nothing changed.
    assert_eq!(leases.holder("outbox"), Some(term.clone()));
    assert_eq!(leases.holder("reports"), None);

    // Expiry goes on during the outage: the term that could not renew is lost.
    tokio::time::advance(TTL).await;
    leases.set_unavailable(false);
    assert!(!renew(&leases, &term).await);
    let next = acquire(&leases, "outbox", "web-2").await.expect("expired");
    assert_eq!(
        next.fence(),
        term.fence() + 1,
        "no fence was spent while unavailable"
    );
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_memory_store_share_one_table() {
    let leases = MemoryLeases::default();
    let clone = leases.clone();
    let term = acquire(&clone, "outbox", "web-1").await.unwrap();
    assert_eq!(leases.holder("outbox"), Some(term.clone()));
    assert_eq!(acquire(&leases, "outbox", "web-2").await, None);

    clone.set_unavailable(true);
    assert!(leases.try_acquire("other", "web-1", TTL).await.is_err());
    clone.set_unavailable(false);

    assert_eq!(leases.revoke("outbox"), Some(term.clone()));
    assert!(!renew(&clone, &term).await);

    // A `Lease` made from a clone campaigns in the same table.
    let _lease = Lease::new("outbox", leases.clone());
    assert!(acquire(&clone, "outbox", "web-2").await.is_some());
    assert!(leases.holder("outbox").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_memory_store_debugs_as_its_live_terms() {
    let leases = MemoryLeases::new();
    assert_eq!(
        format!("{leases:?}"),
        "MemoryLeases { held: {}, unavailable: false }"
    );
    acquire(&leases, "outbox", "web-1").await.unwrap();
    leases.set_unavailable(true);
    assert_eq!(
        format!("{leases:?}"),
        "MemoryLeases { held: {\"outbox\": outbox#1 (web-1)}, unavailable: true }"
    );
}

#[tokio::test]
async fn file_stores_on_one_directory_share_its_leases() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let one = FileLeases::new(dir.path()).unwrap();
    let other = FileLeases::new(dir.path()).unwrap();
    let clone = one.clone();
    assert_eq!(clone.dir(), one.dir());

    let term = acquire(&one, "outbox", "web-1").await.unwrap();
    assert_eq!(acquire(&other, "outbox", "web-2").await, None);
    assert_eq!(acquire(&clone, "outbox", "web-3").await, None);
    assert!(
        renew(&other, &term).await,
        "any store on the directory renews it"
    );
    release(&clone, &term).await;
    let next = acquire(&other, "outbox", "web-2").await.expect("released");
    assert_eq!(next.fence(), term.fence() + 1);
}

#[tokio::test]
async fn file_leases_accept_names_that_are_not_file_names() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let leases = FileLeases::new(dir.path()).unwrap();
    let names = [
        "jobs/outbox",
        "../../etc/passwd",
        "Outbox é",
        "",
        "..",
        "a%2Fb",
    ];
    for name in names {
        let term = acquire(&leases, name, "web 1\n").await.expect("free");
        assert_eq!((term.name(), term.holder()), (name, "web 1\n"));
    }
    for name in names {
        assert_eq!(acquire(&leases, name, "web-2").await, None, "{name:?}");
    }
    // Each name has its two files (lease and lock) right in the directory: none made a
    // subdirectory, went elsewhere or met another name's files.
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap())
        .collect();
    assert!(
        entries
            .iter()
            .all(|entry| entry.file_type().unwrap().is_file())
    );
    assert_eq!(entries.len(), 2 * names.len(), "{entries:?}");
}

#[test]
fn terms_tell_their_lease_holder_and_fence() {
    let term = Term::new("outbox", "web-1", 7);
    assert_eq!(term.name(), "outbox");
    assert_eq!(term.holder(), "web-1");
    assert_eq!(term.fence(), 7);
    assert_eq!(term.to_string(), "outbox#7 (web-1)");
    assert_eq!(
        format!("{term:?}"),
        "Term { name: \"outbox\", holder: \"web-1\", fence: 7 }"
    );
    assert_eq!(term.clone(), term);
    assert_ne!(Term::new("outbox", "web-1", 8), term);
    assert_ne!(Term::new("outbox", "web-2", 7), term);
    assert!(Term::current().is_none(), "outside a singleton's run");
}

#[test]
fn a_lease_takes_any_store_and_names_itself() {
    let memory = MemoryLeases::new();
    let shared: Arc<dyn LeaseStore> = Arc::new(memory.clone());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let leases = [
        Lease::new("a", memory.clone()),
        Lease::new("b", Arc::new(memory)),
        Lease::new("c", shared),
        Lease::new(String::from("d"), FileLeases::new(dir.path()).unwrap()),
    ];
    let names: Vec<&str> = leases.iter().map(Lease::name).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let lease = leases[3]
        .clone()
        .holder("web-1")
        .ttl(Duration::from_secs(30))
        .renew_deadline(Duration::from_secs(20))
        .retry_every(Duration::from_secs(5));
    assert_eq!(
        format!("{lease:?}"),
        "Lease { name: \"d\", holder: \"web-1\", ttl: 30s, renew_deadline: 20s, \
         retry_every: 5s, store: FileLeases }"
    );
}

#[test]
fn the_default_holder_is_the_same_for_every_lease_of_the_process() {
    let holder = |lease: &Lease| {
        let debug = format!("{lease:?}");
        let start = debug.find("holder: \"").unwrap() + "holder: \"".len();
        debug[start..][..debug[start..].find('"').unwrap()].to_owned()
    };
    let a = holder(&Lease::new("a", MemoryLeases::new()));
    let b = holder(&Lease::new("b", MemoryLeases::new()));
    assert_eq!(a, b);
    assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
}
