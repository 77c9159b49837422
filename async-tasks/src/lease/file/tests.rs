//! Unit tests of `FileLeases` that need its clock seam or look at its files.

use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

use super::*;

const TTL: Duration = Duration::from_secs(15);

/// A store on `dir` whose clock is the returned one, in milliseconds since the epoch.
fn store_with_clock(dir: &TempDir, start_ms: u64) -> (FileLeases, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(start_ms));
    let now = Arc::clone(&clock);
    let store = FileLeases::with_clock(
        dir.path().to_owned(),
        Box::new(move || now.load(Ordering::SeqCst)),
    )
    .expect("the directory");
    (store, clock)
}

fn lease_file(dir: &TempDir, stem: &str) -> String {
    fs::read_to_string(dir.path().join(format!("{stem}.lease"))).expect("the lease file")
}

#[tokio::test]
async fn a_term_holds_until_its_expiry_by_the_stores_clock_and_not_at_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, clock) = store_with_clock(&dir, 1_000);
    let first = leases.try_acquire("a", "one", TTL).await.unwrap().unwrap();

    clock.store(15_999, Ordering::SeqCst);
    assert_eq!(leases.try_acquire("a", "two", TTL).await.unwrap(), None);
    clock.store(16_000, Ordering::SeqCst);
    assert!(
        !leases.renew(&first, TTL).await.unwrap(),
        "expired, though no one took it"
    );
    let second = leases.try_acquire("a", "two", TTL).await.unwrap().unwrap();
    assert_eq!(second.fence(), first.fence() + 1);
}

#[tokio::test]
async fn a_renew_extends_the_term_from_now() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, clock) = store_with_clock(&dir, 0);
    let term = leases.try_acquire("a", "one", TTL).await.unwrap().unwrap();
    clock.store(10_000, Ordering::SeqCst);
    assert!(leases.renew(&term, TTL).await.unwrap());
    clock.store(24_999, Ordering::SeqCst);
    assert_eq!(leases.try_acquire("a", "two", TTL).await.unwrap(), None);
    clock.store(25_000, Ordering::SeqCst);
    assert!(leases.try_acquire("a", "two", TTL).await.unwrap().is_some());
}

#[tokio::test]
async fn a_ttl_is_rounded_up_to_the_millisecond() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, clock) = store_with_clock(&dir, 0);
    leases
        .try_acquire("a", "one", Duration::from_micros(1_500))
        .await
        .unwrap()
        .unwrap();
    clock.store(1, Ordering::SeqCst);
    assert_eq!(leases.try_acquire("a", "two", TTL).await.unwrap(), None);
    clock.store(2, Ordering::SeqCst);
    assert!(leases.try_acquire("a", "two", TTL).await.unwrap().is_some());

    assert_eq!(millis(Duration::from_nanos(1)), 1);
    assert_eq!(millis(Duration::from_millis(7)), 7);
    assert_eq!(millis(Duration::MAX), u64::MAX);
}

#[tokio::test]
async fn the_file_says_who_holds_the_lease_until_when_and_keeps_the_fence() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 1_000);
    let term = leases
        .try_acquire("outbox", "web-1", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lease_file(&dir, "outbox"),
        "async-tasks lease 1\nname outbox\nfence 1\nholder web-1\nexpires_ms 16000\n"
    );
    leases.release(&term).await.unwrap();
    assert_eq!(
        lease_file(&dir, "outbox"),
        "async-tasks lease 1\nname outbox\nfence 1\n"
    );
}

#[tokio::test]
async fn fences_survive_every_process_going_away() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 0);
    let first = leases.try_acquire("a", "one", TTL).await.unwrap().unwrap();
    leases.release(&first).await.unwrap();
    drop(leases);

    let (reopened, _clock) = store_with_clock(&dir, 0);
    let second = reopened
        .try_acquire("a", "one", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(second.fence() > first.fence());
}

#[tokio::test]
async fn names_become_files_of_their_own_inside_the_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 0);
    for name in ["../escaped", "a/b", "A", "%41", "", "."] {
        leases.try_acquire(name, "h", TTL).await.unwrap().unwrap();
    }
    let mut files: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|file| file.ends_with(".lease"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "%2541.lease",
            "..%2Fescaped.lease",
            "..lease",
            ".lease",
            "A.lease",
            "a%2Fb.lease",
        ]
    );
    assert!(!dir.path().parent().unwrap().join("escaped.lease").exists());
}

#[tokio::test]
async fn a_temporary_file_left_by_a_killed_process_is_harmless() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, clock) = store_with_clock(&dir, 0);
    let term = leases.try_acquire("a", "one", TTL).await.unwrap().unwrap();
    clock.store(1_000, Ordering::SeqCst);
    // Killed after writing half of the next state aside: the lease file is untouched.
    fs::write(
        dir.path().join("a.lease.tmp"),
        "async-tasks lease 1\nname a\nfen",
    )
    .unwrap();
    assert!(leases.renew(&term, TTL).await.unwrap());
    assert!(lease_file(&dir, "a").contains("expires_ms 16000\n"));
    assert!(!dir.path().join("a.lease.tmp").exists());
}

#[tokio::test]
async fn a_broken_lease_file_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 0);
    fs::write(dir.path().join("a.lease"), "hello").unwrap();
    let err = leases.try_acquire("a", "one", TTL).await.unwrap_err();
    let io = err.downcast_ref::<io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(message.contains("a.lease: not a lease file"), "{message}");
    assert_eq!(lease_file(&dir, "a"), "hello", "left as it was");
}

#[tokio::test]
async fn two_names_sharing_a_file_are_refused_rather_than_merged() {
    // As on a file system that ignores case, where `Outbox.lease` is `outbox.lease`.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 0);
    leases.try_acquire("a", "one", TTL).await.unwrap().unwrap();
    fs::copy(dir.path().join("a.lease"), dir.path().join("b.lease")).unwrap();
    let err = leases.try_acquire("b", "two", TTL).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("it holds the lease \"a\", not \"b\""),
        "{err}"
    );
}

#[tokio::test]
async fn an_unusable_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (leases, _clock) = store_with_clock(&dir, 0);
    fs::remove_dir_all(dir.path()).unwrap();
    fs::write(dir.path(), "a file where the directory was").unwrap();
    let err = leases.try_acquire("a", "one", TTL).await.unwrap_err();
    assert!(err.to_string().starts_with("locking "), "{err}");
    fs::remove_file(dir.path()).unwrap();
}

#[test]
fn new_creates_the_directory_and_its_parents() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let leases = FileLeases::new(dir.path().join("x/y")).unwrap();
    assert!(leases.dir().is_dir());
    assert_eq!(
        format!("{leases:?}"),
        format!("FileLeases {{ dir: {:?} }}", dir.path().join("x/y"))
    );
    assert!(
        FileLeases::new(dir.path().join("x/y")).is_ok(),
        "it exists already"
    );
}
