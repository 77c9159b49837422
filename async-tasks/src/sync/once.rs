//! [`RetryableOnce`]: `std::sync::Once` for an action that may fail and be retried.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::loom::{AtomicBool, Mutex, lock};

/// Runs an action until it succeeds once, as Go's `async.RetryableOnce`.
///
/// [`call`](RetryableOnce::call) runs its closure unless an earlier call already succeeded.
/// The closure says whether it succeeded by returning `true`; a `false` leaves the once
/// open for the next call to retry. A panic counts as done (the action cannot be retried,
/// as with `std::sync::Once`) and propagates to the caller.
///
/// Calls are serialised: a caller that arrives while another call's closure runs waits for
/// it; if that call succeeded, the waiter returns `true` without running its own closure,
/// otherwise it runs its own. `call` blocks the thread while waiting, like `std::sync::Once`:
/// keep the closure short, or use it for synchronous initialisation.
///
/// # Examples
///
/// ```
/// use async_tasks::RetryableOnce;
///
/// let once = RetryableOnce::new();
/// let mut attempts = 0;
/// assert!(!once.call(|| { attempts += 1; false })); // failed: may retry
/// assert!(once.call(|| { attempts += 1; true }));   // succeeded: done
/// assert!(once.call(|| { attempts += 1; true }));   // not called again
/// assert_eq!(attempts, 2);
/// assert!(once.is_done());
/// ```
pub struct RetryableOnce {
    done: AtomicBool,
    /// Held while a closure runs, so that concurrent callers wait for its outcome.
    running: Mutex<()>,
}

impl RetryableOnce {
    /// A once that has not succeeded yet. `const`, so it can live in a `static`.
    ///
    /// ```
    /// static INIT: async_tasks::RetryableOnce = async_tasks::RetryableOnce::new();
    /// assert!(INIT.call(|| true));
    /// ```
    #[cfg(not(async_tasks_loom))]
    #[must_use]
    pub const fn new() -> Self {
        RetryableOnce {
            done: AtomicBool::new(false),
            running: Mutex::new(()),
        }
    }

    /// A once that has not succeeded yet (loom's primitives are not `const`).
    #[cfg(async_tasks_loom)]
    #[must_use]
    pub fn new() -> Self {
        RetryableOnce {
            done: AtomicBool::new(false),
            running: Mutex::new(()),
        }
    }

    /// Runs `f` unless an earlier call succeeded; returns whether the once is now done.
    ///
    /// Calls at once wait for each other: `f` runs under the once's lock, as Go's
    /// `sync.Once` runs its function. So, as there, `f` must not call `call` on the same
    /// once (directly, or through anything it drops): that waits for itself forever.
    ///
    /// # Panics
    ///
    /// If `f` panics, the panic propagates and the once counts as done.
    pub fn call(&self, f: impl FnOnce() -> bool) -> bool {
        // Acquire: pairs with the Release store below, so a caller that sees `done` also
        // sees everything the successful closure did.
        if self.done.load(Ordering::Acquire) {
            return true;
        }
        self.call_slow(f)
    }

    #[cold]
    fn call_slow(&self, f: impl FnOnce() -> bool) -> bool {
        let _running = lock(&self.running);
        // Relaxed would do under the lock, Acquire keeps the reasoning local.
        if self.done.load(Ordering::Acquire) {
            return true;
        }
        /// Marks the once done unless disarmed: runs on success and on unwinding.
        struct MarkDone<'a>(Option<&'a AtomicBool>);
        impl Drop for MarkDone<'_> {
            fn drop(&mut self) {
                if let Some(done) = self.0 {
                    // Release: publishes the closure's effects to the fast path.
                    done.store(true, Ordering::Release);
                }
            }
        }
        let mut mark = MarkDone(Some(&self.done));
        let succeeded = f();
        if !succeeded {
            mark.0 = None;
        }
        succeeded
    }

    /// Whether a call has succeeded (or panicked), so that `f` will not run again.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for RetryableOnce {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryableOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryableOnce")
            .field("done", &self.is_done())
            .finish()
    }
}

/// Model checks, run with
/// `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.
#[cfg(all(test, async_tasks_loom))]
mod loom_models {
    use std::sync::Arc;

    use loom::sync::atomic::{AtomicUsize, Ordering};

    use super::RetryableOnce;

    #[test]
    fn loom_a_success_runs_once_and_everyone_sees_it() {
        loom::model(|| {
            let once = Arc::new(RetryableOnce::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let other = {
                let (once, runs) = (Arc::clone(&once), Arc::clone(&runs));
                loom::thread::spawn(move || {
                    once.call(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        true
                    })
                })
            };
            let here = once.call(|| {
                runs.fetch_add(1, Ordering::SeqCst);
                true
            });
            assert!(here && other.join().unwrap());
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(once.is_done());
        });
    }

    #[test]
    fn loom_a_failure_lets_the_next_caller_retry() {
        loom::model(|| {
            let once = Arc::new(RetryableOnce::new());
            let failed_runs = Arc::new(AtomicUsize::new(0));
            let failing = {
                let (once, failed_runs) = (Arc::clone(&once), Arc::clone(&failed_runs));
                loom::thread::spawn(move || {
                    once.call(|| {
                        failed_runs.fetch_add(1, Ordering::SeqCst);
                        false
                    })
                })
            };
            let mut succeeded_runs = 0;
            let here = once.call(|| {
                succeeded_runs += 1;
                true
            });
            let there = failing.join().unwrap();
            assert!(here);
            assert_eq!(succeeded_runs, 1);
            // The failing caller either ran first (and failed) or found the once done.
            match failed_runs.load(Ordering::SeqCst) {
                0 => assert!(there),
                1 => assert!(!there),
                n => panic!("the failing closure ran {n} times"),
            }
            assert!(once.is_done());
        });
    }
}
