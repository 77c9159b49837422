//! The lease stores as a user sees them: `MemoryLeases` and `FileLeases` held to the
//! `LeaseStore` contract (`support/lease_contract.rs`, which `PgLeases`' tests share; one
//! module of tests per store), then what is particular to each — `MemoryLeases`' paused
//! clock and test hooks, `FileLeases` in one directory opened twice — and `Lease`'s builder.
//!
//! Expiry is shown here with a zero `ttl` (a term that has already expired when granted)
//! for both stores, and with tokio's paused clock for `MemoryLeases`; `FileLeases`' expiry
//! by its clock is unit-tested in the crate, where the clock can be injected.
//! `lease_processes.rs` races `FileLeases` across OS processes; `lease_props.rs` checks
//! `MemoryLeases` against a model.

use std::sync::Arc;
use std::time::Duration;

use async_tasks::lease::{FileLeases, Lease, LeaseStore, MemoryLeases, Term};

#[path = "support/lease_contract.rs"]
mod lease_contract;

use lease_contract::{TTL, acquire, release, renew};

/// One test per property of the contract for `MemoryLeases` and `FileLeases`: each made
/// fresh, then again behind a shared `Arc<dyn LeaseStore>`.
macro_rules! contract_tests {
    ($($property:ident),+ $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(start_paused = true)]
                async fn $property() {
                    lease_contract::$property(&MemoryLeases::new()).await;
                    let shared: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::new());
                    lease_contract::$property(&shared).await;
                }
            )+
        }

        mod file {
            use super::*;
            $(
                #[tokio::test(start_paused = true)]
                async fn $property() {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let store = FileLeases::new(dir.path()).expect("a directory");
                    lease_contract::$property(&store).await;
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let shared: Arc<dyn LeaseStore> =
                        Arc::new(FileLeases::new(dir.path()).expect("a directory"));
                    lease_contract::$property(&shared).await;
                }
            )+
        }
    };
}

lease_contract::each_property!(contract_tests);

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
