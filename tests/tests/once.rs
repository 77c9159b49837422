//! `RetryableOnce`: a once that keeps trying until its action succeeds.
//!
//! Covers:
//! - `new()` and `Default` start not done; `Send + Sync`;
//! - `call` runs `f` while not done and returns its result; `false` leaves it open for a
//!   retry, `true` makes it done, after which `f` never runs again and `call` returns `true`;
//! - a panicking `f` propagates the panic and makes the once done;
//! - concurrent callers (threads started together by a `Barrier`): exactly one successful
//!   run, and every caller returns `true` only after it; calls never overlap; a failed call
//!   in flight leaves the others to retry with their own `f`;
//! - a waiter sees the effects of the successful call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use async_tasks::RetryableOnce;

const THREADS: usize = 8;

/// Runs `body(i)` on `THREADS` threads released together, and collects the results.
fn together<T: Send + 'static>(body: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let body = Arc::new(body);
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (barrier, body) = (Arc::clone(&barrier), Arc::clone(&body));
            thread::spawn(move || {
                barrier.wait();
                body(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_new_once_is_not_done_and_can_be_shared() {
    fn send_sync<T: Send + Sync + Default>() {}
    send_sync::<RetryableOnce>();
    assert!(!RetryableOnce::new().is_done());
    assert!(!RetryableOnce::default().is_done());
}

#[test]
fn call_retries_until_f_returns_true_then_never_runs_it_again() {
    let once = RetryableOnce::new();
    let mut runs = 0;
    assert!(!once.call(|| {
        runs += 1;
        false
    }));
    assert!(!once.is_done());
    assert!(!once.call(|| {
        runs += 1;
        false
    }));
    assert!(once.call(|| {
        runs += 1;
        true
    }));
    assert!(once.is_done());
    assert!(once.call(|| {
        runs += 1;
        false
    }));
    assert!(once.call(|| {
        runs += 1;
        true
    }));
    assert_eq!(runs, 3);
    assert!(once.is_done());
}

#[test]
fn a_panicking_f_propagates_and_makes_the_once_done() {
    let once = RetryableOnce::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        once.call(|| panic!("init failed"));
    }));
    let payload = result.expect_err("the panic must propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"init failed"));
    assert!(once.is_done());
    let mut ran = false;
    assert!(once.call(|| {
        ran = true;
        true
    }));
    assert!(!ran, "a panicked once must not run again");
}

#[test]
fn a_panic_after_failed_attempts_still_makes_it_done() {
    let once = RetryableOnce::new();
    assert!(!once.call(|| false));
    assert!(catch_unwind(AssertUnwindSafe(|| once.call(|| panic!("second try")))).is_err());
    assert!(once.is_done());
    assert!(once.call(|| unreachable!("must not run after a panic")));
}

#[test]
fn concurrent_callers_run_a_successful_f_exactly_once() {
    let once = Arc::new(RetryableOnce::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let results = together({
        let (once, runs) = (Arc::clone(&once), Arc::clone(&runs));
        move |_| {
            let returned = once.call(|| {
                runs.fetch_add(1, Ordering::SeqCst);
                true
            });
            // Whoever returns has seen the one run finish.
            (returned, runs.load(Ordering::SeqCst))
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|&r| r == (true, 1)), "{results:?}");
}

#[test]
fn concurrent_calls_never_overlap_and_failures_leave_room_to_retry() {
    let once = Arc::new(RetryableOnce::new());
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let results = together({
        let (once, inside, overlaps, runs) = (
            Arc::clone(&once),
            Arc::clone(&inside),
            Arc::clone(&overlaps),
            Arc::clone(&runs),
        );
        move |_| {
            once.call(|| {
                if inside.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                // Give another caller every chance to barge in.
                for _ in 0..100 {
                    thread::yield_now();
                }
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                inside.store(false, Ordering::SeqCst);
                // Only the fourth attempt succeeds.
                n == 4
            })
        }
    });
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two calls of f overlapped"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        4,
        "f runs until it succeeds, then never"
    );
    // The three callers whose attempt failed got `false`; everyone else `true`.
    assert_eq!(results.iter().filter(|&&done| !done).count(), 3);
    assert!(once.is_done());
}

#[test]
fn a_caller_waits_for_the_call_in_flight_and_sees_its_outcome() {
    let once = Arc::new(RetryableOnce::new());
    let value = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();

    let first = thread::spawn({
        let (once, value) = (Arc::clone(&once), Arc::clone(&value));
        move || {
            once.call(|| {
                started_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
                value.store(42, Ordering::SeqCst);
                true
            })
        }
    });
    started_rx.recv().unwrap();
    // The first call is in flight (it cannot finish before `finish_tx` sends).
    let second = thread::spawn({
        let (once, value) = (Arc::clone(&once), Arc::clone(&value));
        move || {
            let mut ran = false;
            let done = once.call(|| {
                ran = true;
                true
            });
            (done, ran, value.load(Ordering::SeqCst))
        }
    });
    assert!(!once.is_done(), "done before the call in flight returned");
    finish_tx.send(()).unwrap();
    assert!(first.join().unwrap());
    assert_eq!(second.join().unwrap(), (true, false, 42));
}
