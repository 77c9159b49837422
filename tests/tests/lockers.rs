//! Load on one lock: 10,000 lockers on one `MutexWithContext` with random timeouts, cancels
//! and dropped lock futures: the protected counter equals the number of locks taken, no two
//! holders ever overlap, and a final `lock` succeeds at once.
//!
//! A longer soak is `#[ignore]`d:
//!
//! ```text
//! cargo test --release -p async-tasks-tests --test lockers -- --ignored
//! ```

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::{CancelHandle, ContextError};
use async_tasks::{Context, Func, MutexWithContext, Tasks};
use futures_util::FutureExt;
use tokio::time::timeout;

use support::{Rng, paused, wait_bounded};

/// How one locker gives up, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GiveUp {
    /// Its context times out.
    Timeout,
    /// Its context is canceled by another task.
    Cancel,
    /// Its `lock` future is dropped (by `tokio::time::timeout`).
    Drop,
    /// Its context is done before it asks.
    AlreadyDone,
}

#[derive(Default)]
struct Tally {
    locked: AtomicUsize,
    /// Holders at this moment; more than one is a broken mutex.
    inside: AtomicUsize,
    overlapped: AtomicBool,
    failed: Mutex<BTreeMap<GiveUp, usize>>,
    wrong_error: AtomicBool,
}

fn lockers(n: usize, seed: u64) {
    paused(async {
        let tasks = Tasks::new("lockers");
        let mutex = Arc::new(MutexWithContext::new(0_u64));
        let tally = Arc::new(Tally::default());
        let mut rng = Rng(seed);
        for _ in 0..n {
            let give_up = match rng.below(4) {
                0 => GiveUp::Timeout,
                1 => GiveUp::Cancel,
                2 => GiveUp::Drop,
                _ if rng.below(4) == 0 => GiveUp::AlreadyDone,
                _ => GiveUp::Timeout,
            };
            // Patience of 0 to 30 s against holds of 0 to 2 ms: about 10 s of holding in
            // all, so early lockers get the lock and late impatient ones do not.
            let patience = Duration::from_millis(rng.below(30_001));
            let hold = Duration::from_millis(rng.below(3));
            let (ctx, cancel) = match give_up {
                GiveUp::Timeout => Context::background().with_timeout(patience),
                _ => Context::background().with_cancel(),
            };
            match give_up {
                GiveUp::Cancel => cancel_after(&tasks, cancel, patience),
                GiveUp::AlreadyDone => cancel.cancel(),
                GiveUp::Timeout | GiveUp::Drop => {}
            }
            let (mutex, tally) = (Arc::clone(&mutex), Arc::clone(&tally));
            tasks.run(
                &Context::background(),
                Func::new(move |_| {
                    let (mutex, tally, ctx) = (Arc::clone(&mutex), Arc::clone(&tally), ctx.clone());
                    async move {
                        let locked = match give_up {
                            GiveUp::Drop => timeout(patience, mutex.lock(&ctx)).await.ok(),
                            _ => Some(mutex.lock(&ctx).await),
                        };
                        match locked {
                            Some(Ok(mut guard)) => {
                                if tally.inside.fetch_add(1, Ordering::SeqCst) != 0 {
                                    tally.overlapped.store(true, Ordering::SeqCst);
                                }
                                // Read, pause, write: two holders at once would lose a count.
                                let seen = *guard;
                                tokio::time::sleep(hold).await;
                                *guard = seen + 1;
                                tally.inside.fetch_sub(1, Ordering::SeqCst);
                                tally.locked.fetch_add(1, Ordering::SeqCst);
                            }
                            Some(Err(err)) => {
                                let expected = match give_up {
                                    GiveUp::Timeout => ContextError::DeadlineExceeded,
                                    _ => ContextError::Canceled,
                                };
                                if err != expected {
                                    tally.wrong_error.store(true, Ordering::SeqCst);
                                }
                                *tally.failed.lock().unwrap().entry(give_up).or_default() += 1;
                            }
                            None => {
                                *tally.failed.lock().unwrap().entry(give_up).or_default() += 1;
                            }
                        }
                        Ok(())
                    }
                }),
            );
        }
        wait_bounded(&tasks).await;

        let locked = tally.locked.load(Ordering::SeqCst);
        let failed = tally.failed.lock().unwrap().clone();
        assert!(
            !tally.overlapped.load(Ordering::SeqCst),
            "two holders at once"
        );
        assert!(
            !tally.wrong_error.load(Ordering::SeqCst),
            "a lock failed with the wrong error"
        );
        assert_eq!(locked + failed.values().sum::<usize>(), n, "{failed:?}");
        // Every way of giving up happened, and so did plenty of successes.
        assert_eq!(failed.len(), 4, "{failed:?}");
        assert!(locked > n / 10, "only {locked} of {n} locked");
        println!("{n} lockers: {locked} locked, gave up: {failed:?}");
        // The count is exact, and the lock is free at once.
        let guard = mutex
            .lock(&Context::background())
            .now_or_never()
            .expect("the final lock is taken at once")
            .expect("with a live context");
        assert_eq!(*guard, locked as u64);
    });
}

/// Cancels `cancel` after `after`, from a task of `tasks`.
fn cancel_after(tasks: &Tasks, cancel: CancelHandle, after: Duration) {
    tasks.run(
        &Context::background(),
        Func::new(move |_| {
            let cancel = cancel.clone();
            async move {
                tokio::time::sleep(after).await;
                cancel.cancel();
                Ok(())
            }
        }),
    );
}

#[test]
fn ten_thousand_lockers_with_random_timeouts_keep_an_exact_count() {
    lockers(10_000, 1);
}

#[test]
#[ignore = "soak: run with --release, see the module docs"]
fn soak_lockers_with_many_seeds() {
    let first = support::soak_seed(0);
    for seed in first..first + 100 {
        lockers(10_000, seed);
    }
}
