//! Helpers shared by the bad-input and load test files (`bad_input.rs`,
//! `reentrant_calls.rs`, `closes_and_drops.rs`, `stress.rs`, `lockers.rs`) and by the
//! behaviour tests of sets, drains, escalation, spawn and reports (`sets.rs`, `drain.rs`,
//! `escalation.rs`, `spawn.rs`, `reports.rs`, `sets_race.rs`); each uses some. The
//! singleton tests (`singleton.rs`, `singleton_props.rs`) share a fault-injecting lease
//! store and a board of who runs now (`faulty_leases.rs`, `board.rs`). The property tests
//! (`context_props.rs`, `context_joins.rs`, `lease_props.rs`, `singleton_props.rs`) share
//! their configuration ([`proptest_config`]).
#![allow(dead_code)]

pub mod board;
pub mod faulty_leases;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use tokio::runtime::Builder;
use tokio::time::{Instant, timeout};

pub const LIMIT: Duration = Duration::from_secs(24 * 3600);
pub const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

pub async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// The largest `d` for which `now + d` is an instant: the end of time, as far as `Instant`
/// goes.
pub fn farthest(now: Instant) -> Duration {
    let (mut ok, mut too_far) = (Duration::ZERO, Duration::MAX);
    while too_far - ok > Duration::from_secs(1) {
        let mid = ok + (too_far - ok) / 2;
        match now.checked_add(mid) {
            Some(_) => ok = mid,
            None => too_far = mid,
        }
    }
    ok
}

/// A runner that ignores its context and never ends.
pub fn stubborn() -> Func<impl Fn(Context) -> std::future::Pending<Result<(), BoxError>> + Clone> {
    Func::new(|_| std::future::pending())
}

/// A runner that ends as soon as its context is done.
pub fn well_behaved() -> impl Runner + Clone {
    Func::new(|ctx: Context| async move {
        ctx.done().await;
        Ok(())
    })
}

/// The resident memory of this process, from `/proc/self/status` (`VmRSS`), in bytes.
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in kB");
    kb * 1024
}

/// One test at a time: they read the process's resident memory and real time.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` alone, on a current-thread runtime with the clock paused.
pub fn paused<F: Future>(f: F) -> F::Output {
    let _serial = serial();
    Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

/// The seed of a soak: `ASYNC_TASKS_SOAK_SEED` (`.ci/soak` picks one at random and prints
/// it, so that a failure can be replayed), or `default` — the fixed seed CI uses, so that
/// its runs repeat.
pub fn soak_seed(default: u64) -> u64 {
    std::env::var("ASYNC_TASKS_SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (SplitMix64): the same cases on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A runner named `name` that ends (with `Ok`) as soon as its context is done.
pub fn named_until_done(name: &'static str) -> impl Runner + Clone {
    Func::named(name, |ctx: Context| async move {
        ctx.done().await;
        Ok(())
    })
}

/// A runner named `name` that ignores its context and never ends.
pub fn named_stubborn(name: &'static str) -> impl Runner + Clone {
    Func::named(name, |_ctx: Context| {
        std::future::pending::<Result<(), BoxError>>()
    })
}

/// A signal that, once opened, stays open: tasks wait for it, the test opens it.
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the gate is open.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

/// Counts how often something happened, shared with the tasks that do it.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn add(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Set when dropped: moved into a future, it says whether the future was dropped.
#[derive(Debug)]
pub struct DropFlag(Arc<AtomicBool>);

impl DropFlag {
    /// The flag, and a probe that says whether it was dropped.
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let dropped = Arc::new(AtomicBool::new(false));
        (DropFlag(Arc::clone(&dropped)), dropped)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Receives `n` messages from `rx`, or fails the test after `LIMIT` (tokio's clock).
pub async fn recv_n<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let item = timeout(LIMIT, rx.recv())
            .await
            .expect("a task did not send in time")
            .expect("every sender is gone");
        got.push(item);
    }
    got
}

/// A property test's configuration: `PROPTEST_CASES` cases (256 by default), no failure
/// files, and the fixed `seed` unless `PROPTEST_RNG_SEED` is set: CI explores the same
/// cases on every run (a failure there is reproducible, never a fluke); soaks pick their
/// own seed.
pub fn proptest_config(seed: u64) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => Config::default().rng_seed,
        None => RngSeed::Fixed(seed),
    };
    Config {
        cases,
        failure_persistence: None,
        rng_seed,
        ..Config::default()
    }
}
