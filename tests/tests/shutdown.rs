//! `Tasks::shutdown(grace)` and `ShutdownTimeout`.
//!
//! Covers:
//! - shutdown cancels the context of every task (`run`, `run_loop`, `run_background`) with
//!   `Canceled`, and returns `Ok` as soon as they have finished (exact paused time), also
//!   when that takes part of the grace period, or when a task panics on the way out;
//! - shutdown of an empty set is `Ok` at once; it can be called again;
//! - when the grace period runs out: `Err(ShutdownTimeout)` after exactly `grace`, with the
//!   number of stragglers and their names (the runner's name, else the set's), in
//!   `running()`, `names()` and `Display`; the stragglers are not aborted;
//! - tasks started after shutdown get an already-canceled context (and loops run zero
//!   iterations);
//! - shutdown reaches only its own set's tasks, never the caller's context or another set;
//! - `ShutdownTimeout` is `Debug + Display + Error + Send + Sync` and boxes into `BoxError`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::task::ShutdownTimeout;
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(24 * 3600);

type Seen = Arc<Mutex<Vec<Option<ContextError>>>>;

/// A runner that waits for its context to end and records why it ended.
fn well_behaved(seen: &Seen) -> impl Runner + use<> {
    let seen = Arc::clone(seen);
    Func::new(move |ctx: Context| {
        let seen = Arc::clone(&seen);
        async move {
            ctx.done().await;
            let mut seen = seen.lock().unwrap();
            seen.push(ctx.err());
            // Run again and again by a loop that goes on after its context ended: fail, so
            // that the test fails instead of hanging.
            if seen.len() > 1000 {
                return Err("runaway loop".into());
            }
            Ok(())
        }
    })
}

/// A runner that ignores its context for `secs` seconds.
fn stubborn(name: Option<&'static str>, secs: u64) -> Box<dyn Runner> {
    let f = move |_ctx: Context| async move {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(())
    };
    match name {
        Some(name) => Box::new(Func::named(name, f)),
        None => Box::new(Func::new(f)),
    }
}

#[test]
fn shutdown_timeout_is_a_proper_error() {
    fn error<T: std::error::Error + std::fmt::Debug + std::fmt::Display + Send + Sync + 'static>() {
    }
    error::<ShutdownTimeout>();
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_every_kind_of_task_and_returns_once_they_finish() {
    let tasks = Tasks::new("svc");
    let seen: Seen = Arc::default();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(3600));
    tasks.run(&ctx, well_behaved(&seen));
    tasks.run_loop(&ctx, well_behaved(&seen));
    tasks.run_background(&ctx, well_behaved(&seen));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(tasks.running(), 3);

    let start = Instant::now();
    let result = timeout(LIMIT, tasks.shutdown(Duration::from_secs(30)))
        .await
        .unwrap();
    result.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "returns when the last task ends"
    );
    assert_eq!(tasks.running(), 0);
    assert_eq!(*seen.lock().unwrap(), [Some(ContextError::Canceled); 3]);
    assert!(
        !ctx.is_done(),
        "shutdown must not reach the caller's context"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_cleanup_within_the_grace_period() {
    let tasks = Tasks::new("svc");
    let cleaned = Arc::new(AtomicUsize::new(0));
    tasks.run(&Context::background(), {
        let cleaned = Arc::clone(&cleaned);
        Func::new(move |ctx: Context| {
            let cleaned = Arc::clone(&cleaned);
            async move {
                ctx.done().await;
                tokio::time::sleep(Duration::from_secs(2)).await; // cleanup
                cleaned.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
    });
    tokio::task::yield_now().await;
    let start = Instant::now();
    let result = timeout(LIMIT, tasks.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    result.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_panics_on_the_way_out_does_not_spoil_shutdown() {
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            panic!("cleanup failed");
        }),
    );
    let result = timeout(LIMIT, tasks.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    result.unwrap();
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_of_an_empty_set_is_ok_at_once() {
    let tasks = Tasks::new("svc");
    let start = Instant::now();
    tasks.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn shutdown_times_out_after_grace_listing_the_stragglers() {
    let tasks = Tasks::new("svc");
    let seen: Seen = Arc::default();
    tasks.run(&Context::background(), stubborn(None, 3600));
    tasks.run_loop(&Context::background(), stubborn(Some("poller"), 3600));
    tasks.run_background(&Context::background(), stubborn(None, 3600));
    tasks.run(&Context::background(), well_behaved(&seen));
    assert_eq!(tasks.running(), 4);
    // Let the loop start its first iteration (a loop shut down before that runs none).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let start = Instant::now();
    let err = timeout(LIMIT, tasks.shutdown(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect_err("three tasks ignore their context");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(err.running(), 3);
    assert_eq!(err.names(), ["poller", "svc", "svc"]);
    assert_eq!(err.tasks_name(), "svc");
    assert_eq!(*seen.lock().unwrap(), [Some(ContextError::Canceled)]);

    let message = err.to_string();
    assert!(message.contains('3'), "no count in {message:?}");
    assert!(message.contains("poller"), "no name in {message:?}");
    assert!(message.contains("svc"), "no set name in {message:?}");
    assert!(format!("{err:?}").contains("poller"));
    let boxed: BoxError = err.into();
    assert_eq!(boxed.to_string(), message);
}

#[tokio::test(start_paused = true)]
async fn shutdown_timeout_names_a_single_straggler() {
    let tasks = Tasks::new("jobs");
    tasks.run(&Context::background(), stubborn(Some("stubborn"), 60));
    let err = tasks.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.running(), 1);
    assert_eq!(err.names(), ["stubborn"]);
    let message = err.to_string();
    assert!(
        message.contains('1') && message.contains("stubborn"),
        "{message:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stragglers_are_not_aborted_and_shutdown_can_be_called_again() {
    let tasks = Tasks::new("svc");
    let finished = Arc::new(AtomicUsize::new(0));
    tasks.run(&Context::background(), {
        let finished = Arc::clone(&finished);
        Func::new(move |_ctx| {
            let finished = Arc::clone(&finished);
            async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
    });
    let start = Instant::now();
    let err = tasks.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.running(), 1);
    assert_eq!(tasks.running(), 1, "the straggler keeps running");

    let again = timeout(LIMIT, tasks.shutdown(Duration::from_secs(60)))
        .await
        .unwrap();
    again.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn tasks_started_after_shutdown_get_a_canceled_ctx() {
    let tasks = Tasks::new("svc");
    tasks.shutdown(Duration::from_secs(1)).await.unwrap();

    let seen: Seen = Arc::default();
    let record = || {
        let seen = Arc::clone(&seen);
        Func::new(move |ctx: Context| {
            seen.lock().unwrap().push(ctx.err());
            async { Ok(()) }
        })
    };
    tasks.run(&Context::background(), record());
    tasks.run_background(&Context::background(), record());
    let loops = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(&Context::background(), {
        let loops = Arc::clone(&loops);
        Func::new(move |_ctx| {
            let n = loops.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if n < 100 {
                Ok(())
            } else {
                Err("runaway loop".into())
            })
        })
    });
    timeout(LIMIT, tasks.wait()).await.unwrap();
    // `run` and `run_background` still run their runner (as Go does), canceled.
    assert_eq!(*seen.lock().unwrap(), [Some(ContextError::Canceled); 2]);
    assert_eq!(loops.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_reaches_only_its_own_tasks() {
    let a = Tasks::new("a");
    let b = Tasks::new("b");
    let (ctx, cancel) = Context::background().with_cancel();
    let seen_a: Seen = Arc::default();
    let seen_b: Seen = Arc::default();
    a.run(&ctx, well_behaved(&seen_a));
    b.run(&ctx, well_behaved(&seen_b));
    b.run_background(&ctx, well_behaved(&seen_b));

    a.shutdown(Duration::from_secs(1)).await.unwrap();
    assert_eq!(*seen_a.lock().unwrap(), [Some(ContextError::Canceled)]);
    assert!(!ctx.is_done());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(b.running(), 2, "another set's shutdown reached b");
    assert!(seen_b.lock().unwrap().is_empty());

    // b's own tasks still start live, and b's caller can still cancel its `run` task.
    cancel.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(b.running(), 1, "only the background task is left");
    b.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_shutdown_future_has_already_canceled_the_tasks() {
    let tasks = Tasks::new("svc");
    let seen: Seen = Arc::default();
    tasks.run(&Context::background(), well_behaved(&seen));
    tasks.run(&Context::background(), stubborn(None, 10));
    // Give up on the shutdown before its grace period ends.
    assert!(
        timeout(
            Duration::from_secs(1),
            tasks.shutdown(Duration::from_secs(60))
        )
        .await
        .is_err()
    );
    timeout(LIMIT, tasks.wait()).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), [Some(ContextError::Canceled)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_on_a_multi_thread_runtime() {
    let tasks = Tasks::new("svc");
    let seen: Seen = Arc::default();
    let started = Arc::new(tokio::sync::Semaphore::new(0));
    let runner = || {
        let (seen, started) = (Arc::clone(&seen), Arc::clone(&started));
        Func::new(move |ctx: Context| {
            started.add_permits(1);
            let seen = Arc::clone(&seen);
            async move {
                ctx.done().await;
                seen.lock().unwrap().push(ctx.err());
                Ok(())
            }
        })
    };
    for _ in 0..50 {
        tasks.run(&Context::background(), runner());
        tasks.run_loop(&Context::background(), runner());
    }
    // Every loop must be inside its first iteration, or it would run none.
    let all_started = timeout(Duration::from_secs(30), started.acquire_many(100)).await;
    drop(all_started.expect("tasks did not start").unwrap());
    let result = timeout(
        Duration::from_secs(30),
        tasks.shutdown(Duration::from_secs(30)),
    )
    .await
    .expect("shutdown hung");
    result.unwrap();
    assert_eq!(tasks.running(), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|e| *e == Some(ContextError::Canceled)));
}
