//! `default_tasks()` and the free functions `run`, `run_loop` and `run_background`.
//!
//! The default set is one per process, shared by every test of this file: each test holds
//! `SERIAL` so that counts and waits see only its own tasks.
//!
//! Covers:
//! - `default_tasks()` is one instance named `"async.run"` and needs no runtime;
//! - the free functions start their tasks on it, with `run`'s, `run_loop`'s and
//!   `run_background`'s semantics (counted at once, a done ctx runs zero loop iterations,
//!   the caller's cancel does not reach a background task);
//! - it works from several runtimes: sequential runtimes in one test, and two tests each
//!   building their own runtime;
//! - a runtime dropped with default tasks pending leaves `running() == 0` and `wait()`
//!   returning;
//! - the free functions outside a runtime panic with a message that says so.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{Context, Func, default_tasks, run, run_background, run_loop};
use tokio::runtime::{Builder, Runtime};
use tokio::time::timeout;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Runs `f` on a fresh paused-clock runtime, alone among this file's tests.
fn alone<F: Future>(f: F) -> F::Output {
    let _serial = serial();
    runtime().block_on(f)
}

async fn wait_default() {
    timeout(Duration::from_secs(3600), default_tasks().wait())
        .await
        .expect("default_tasks().wait() did not return");
}

#[test]
fn default_tasks_is_one_set_named_async_run_and_needs_no_runtime() {
    let _serial = serial();
    assert_eq!(default_tasks().name(), "async.run");
    assert!(std::ptr::eq(default_tasks(), default_tasks()));
    assert_eq!(default_tasks().running(), 0);
}

#[test]
fn the_free_functions_run_on_default_tasks() {
    alone(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ctx, cancel) = Context::background().with_cancel();

        run(&ctx, {
            let seen = Arc::clone(&seen);
            Func::new(move |ctx: Context| {
                seen.lock().unwrap().push(("run", ctx.err()));
                async { Ok(()) }
            })
        });
        assert_eq!(
            default_tasks().running(),
            1,
            "counted from the moment run returns"
        );

        run_background(&ctx, {
            let seen = Arc::clone(&seen);
            Func::new(move |ctx: Context| {
                let seen = Arc::clone(&seen);
                async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    seen.lock().unwrap().push(("background", ctx.err()));
                    Ok(())
                }
            })
        });
        cancel.cancel();

        let loops = Arc::new(AtomicUsize::new(0));
        run_loop(&ctx, {
            let loops = Arc::clone(&loops);
            Func::new(move |_ctx| {
                // Past a few iterations the loop is running away: end it, and the test fails.
                let n = loops.fetch_add(1, Ordering::SeqCst);
                std::future::ready(if n < 100 {
                    Ok(())
                } else {
                    Err("runaway loop".into())
                })
            })
        });
        assert_eq!(default_tasks().running(), 3);

        wait_default().await;
        assert_eq!(default_tasks().running(), 0);
        assert_eq!(
            loops.load(Ordering::SeqCst),
            0,
            "a done ctx runs zero iterations"
        );
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable_by_key(|(what, _)| *what);
        assert_eq!(
            seen,
            [("background", None), ("run", Some(ContextError::Canceled))]
        );
    });
}

/// Starts one task on the default set from a fresh runtime and waits for it.
fn one_task_on_a_fresh_runtime() -> usize {
    let ran = Arc::new(AtomicUsize::new(0));
    alone(async {
        run(&Context::background(), {
            let ran = Arc::clone(&ran);
            Func::new(move |ctx: Context| {
                let ran = Arc::clone(&ran);
                async move {
                    async_tasks::sleep(&ctx, Duration::from_secs(1)).await?;
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
        });
        wait_default().await;
    });
    ran.load(Ordering::SeqCst)
}

#[test]
fn default_tasks_works_from_sequential_runtimes() {
    for round in 0..3 {
        assert_eq!(one_task_on_a_fresh_runtime(), 1, "round {round}");
    }
}

// Two tests that each build a runtime: whichever runs second uses the default set after
// another runtime used (and dropped) it.
#[test]
fn default_tasks_from_one_test_runtime() {
    assert_eq!(one_task_on_a_fresh_runtime(), 1);
}

#[test]
fn default_tasks_from_another_test_runtime() {
    assert_eq!(one_task_on_a_fresh_runtime(), 1);
}

#[test]
fn a_runtime_dropped_with_default_tasks_pending_leaves_nothing_running() {
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        run(
            &Context::background(),
            Func::new(|ctx: Context| async move {
                ctx.done().await;
                Ok(())
            }),
        );
        run_loop(
            &Context::background(),
            Func::new(|_ctx| std::future::pending()),
        );
        tokio::task::yield_now().await;
    });
    assert_eq!(default_tasks().running(), 2);
    drop(rt);
    assert_eq!(default_tasks().running(), 0);
    runtime().block_on(wait_default());
}

#[test]
#[should_panic(expected = "runtime")]
fn run_outside_a_runtime_panics_with_a_message_that_says_so() {
    let _serial = serial();
    run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
}

#[test]
#[should_panic(expected = "runtime")]
fn run_loop_outside_a_runtime_panics() {
    let _serial = serial();
    run_loop(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
}

#[test]
#[should_panic(expected = "runtime")]
fn run_background_outside_a_runtime_panics() {
    let _serial = serial();
    run_background(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
}
