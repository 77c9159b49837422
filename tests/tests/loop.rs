//! `Tasks::run_loop`: Go's `Tasks.Loop`.
//!
//! Covers:
//! - the ctx is checked before each iteration: a runner that cancels during iteration `n`
//!   sees exactly `n` iterations; a done ctx (canceled or expired) runs zero iterations;
//!   a deadline stops the loop at the first check after it;
//! - every iteration gets the caller's deadline and the caller's cancellation;
//! - the loop stops on an error (also `DeadlineExceeded` while the ctx is live) and on a
//!   panic, without taking `wait()` down;
//! - a `Canceled` error while the ctx is live does **not** stop it (Go semantics), also when
//!   `Canceled` is only in the error's `source()` chain;
//! - a loop counts in `running()` from the call, and not once it has stopped;
//! - a runner that returns `Ok` at once does not starve a current-thread runtime: another
//!   task makes progress, and canceling stops the loop before its next iteration.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::{CancelHandle, ContextError};
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use futures_util::FutureExt as _;
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// Iterations after which a test's loop is surely running away: its runner then fails, so
/// that a loop that does not stop makes the test fail instead of hang.
const RUNAWAY: usize = 1000;

/// A runner that counts its iterations and decides each outcome from the iteration number
/// (1-based), with the cancel handle of its context at hand. Fails past [`RUNAWAY`].
fn counting<F>(count: &Arc<AtomicUsize>, cancel: Option<CancelHandle>, f: F) -> impl Runner + use<F>
where
    F: Fn(usize, Option<&CancelHandle>) -> Result<(), BoxError> + Send + Sync + 'static,
{
    let count = Arc::clone(count);
    Func::new(move |_ctx| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(if n > RUNAWAY {
            Err("runaway loop".into())
        } else {
            f(n, cancel.as_ref())
        })
    })
}

/// An error whose `source()` is `ContextError::Canceled`.
#[derive(Debug)]
struct Wrapped(ContextError);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "while polling: {}", self.0)
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tokio::test]
async fn the_ctx_is_checked_before_each_iteration() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_loop(
        &ctx,
        counting(&count, Some(cancel), |n, cancel| {
            if n == 5 {
                cancel.unwrap().cancel();
            }
            Ok(())
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_done_ctx_runs_zero_iterations() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));

    let (canceled, cancel) = Context::background().with_cancel();
    cancel.cancel();
    tasks.run_loop(&canceled, counting(&count, None, |_, _| Ok(())));

    let (expired, _c) = Context::background().with_timeout(Duration::ZERO);
    tasks.run_loop(&expired, counting(&count, None, |_, _| Ok(())));

    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_stops_the_loop_at_the_next_check() {
    let tasks = Tasks::new("loop");
    let start = Instant::now();
    let (ctx, _c) = Context::background().with_timeout(Duration::from_millis(3500));
    let starts = Arc::new(Mutex::new(Vec::new()));
    tasks.run_loop(&ctx, {
        let starts = Arc::clone(&starts);
        Func::new(move |_ctx| {
            starts.lock().unwrap().push(start.elapsed());
            // Ignores its context: only the loop's own check can stop it.
            tokio::time::sleep(Duration::from_secs(1)).map(Ok)
        })
    });
    wait_bounded(&tasks).await;
    let secs: Vec<_> = starts
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(secs, [0, 1, 2, 3]);
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn every_iteration_gets_the_callers_deadline_and_cancellation() {
    let tasks = Tasks::new("loop");
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(3600));
    let seen = Arc::new(Mutex::new(Vec::new()));
    tasks.run_loop(&ctx, {
        let seen = Arc::clone(&seen);
        Func::new(move |ctx: Context| {
            let seen = Arc::clone(&seen);
            async move {
                if seen.lock().unwrap().len() >= RUNAWAY {
                    return Err("runaway loop".into());
                }
                seen.lock().unwrap().push(ctx.deadline());
                // Each iteration waits for a second or the end of the context.
                let _ = async_tasks::sleep(&ctx, Duration::from_secs(1)).await;
                Ok(())
            }
        })
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    cancel.cancel();
    wait_bounded(&tasks).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|d| *d == ctx.deadline()));
}

#[tokio::test]
async fn an_error_stops_the_loop() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(
        &Context::background(),
        counting(&count, None, |n, _| {
            if n == 3 {
                Err("third time".into())
            } else {
                Ok(())
            }
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test]
async fn a_deadline_exceeded_error_stops_the_loop_while_the_ctx_is_live() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, _cancel) = Context::background().with_cancel();
    tasks.run_loop(
        &ctx,
        counting(&count, None, |n, _| {
            if n == 2 {
                Err(ContextError::DeadlineExceeded.into())
            } else {
                Ok(())
            }
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(!ctx.is_done());
}

#[tokio::test]
async fn a_canceled_error_does_not_stop_the_loop_while_the_ctx_is_live() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_loop(
        &ctx,
        counting(&count, Some(cancel), |n, cancel| {
            if n == 6 {
                // Only the context check ends it.
                cancel.unwrap().cancel();
            }
            Err(ContextError::Canceled.into())
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_wrapped_canceled_error_does_not_stop_the_loop_either() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_loop(
        &ctx,
        counting(&count, Some(cancel), |n, cancel| {
            if n == 4 {
                cancel.unwrap().cancel();
            }
            Err(Wrapped(ContextError::Canceled).into())
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 4);

    // Wrapping anything else is an ordinary error: it stops the loop.
    let count = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(
        &Context::background(),
        counting(&count, None, |_, _| {
            Err(Wrapped(ContextError::DeadlineExceeded).into())
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panic_stops_the_loop_without_taking_wait_down() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(
        &Context::background(),
        counting(&count, None, |n, _| {
            if n == 2 {
                panic!("loop iteration {n} blew up");
            }
            Ok(())
        }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_loop_counts_from_the_call_until_it_stops() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_loop(&ctx, {
        let count = Arc::clone(&count);
        Func::new(move |_ctx| {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).map(Ok)
        })
    });
    assert_eq!(tasks.running(), 1);
    assert_eq!(count.load(Ordering::SeqCst), 0, "not polled yet");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(tasks.running(), 1);
    cancel.cancel();
    wait_bounded(&tasks).await;
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_runner_waiting_on_its_ctx_ends_the_loop_when_canceled() {
    let tasks = Tasks::new("loop");
    let count = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_loop(&ctx, {
        let count = Arc::clone(&count);
        Func::new(move |ctx: Context| {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n > RUNAWAY {
                    return Err("runaway loop".into());
                }
                ctx.done().await;
                Ok(())
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(tasks.running(), 1);
    cancel.cancel();
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// The outcome of the starvation scenario, sent back from its own thread.
#[derive(Debug)]
struct Starvation {
    other_task_result: u32,
    iterations_before_cancel: usize,
    iterations_after_wait: usize,
    running_after_wait: usize,
}

#[test]
fn a_loop_that_returns_at_once_does_not_starve_a_current_thread_runtime() {
    // Run the scenario on a thread of its own: if the loop starves its runtime, nothing
    // inside that runtime (not even a timeout) gets to run, so only the outer thread can
    // notice.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = rt.block_on(async {
            let tasks = Tasks::new("busy");
            let count = Arc::new(AtomicUsize::new(0));
            let (ctx, cancel) = Context::background().with_cancel();
            // No runaway guard here: it would end a starving loop and hide the bug.
            tasks.run_loop(&ctx, {
                let count = Arc::clone(&count);
                Func::new(move |_ctx| {
                    count.fetch_add(1, Ordering::SeqCst);
                    std::future::ready(Ok(()))
                })
            });
            let other = tokio::spawn(async {
                let mut turns = 0;
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                    turns += 1;
                }
                turns
            });
            let other_task_result = other.await.unwrap();
            let iterations_before_cancel = count.load(Ordering::SeqCst);
            cancel.cancel();
            tasks.wait().await;
            Starvation {
                other_task_result,
                iterations_before_cancel,
                iterations_after_wait: count.load(Ordering::SeqCst),
                running_after_wait: tasks.running(),
            }
        });
        let _ = tx.send(outcome);
    });
    let outcome = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a loop whose runner returns at once starved the current-thread runtime");
    assert_eq!(outcome.other_task_result, 20);
    assert!(outcome.iterations_before_cancel > 0, "{outcome:?}");
    assert_eq!(
        outcome.iterations_after_wait, outcome.iterations_before_cancel,
        "the loop ran again after its context was canceled"
    );
    assert_eq!(outcome.running_after_wait, 0);
}
