//! Where `Tasks` spawns: the runtime current at each `run*()` call.
//!
//! Covers:
//! - `run*` outside a runtime panics with a message that says so (`run`, `run_loop`,
//!   `run_background`), and the failed call counts nothing;
//! - a runtime dropped while tasks are pending (started, inside a loop iteration, or never
//!   polled) leaves `running() == 0` and `wait()` returning on another runtime;
//! - one `Tasks` serves sequential runtimes, a `Runtime::enter` guard, and two runtimes on
//!   two threads at once, each task running on its caller's runtime.
//!
//! The default set's counterparts are in `default.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::{Context, Func, Tasks};
use tokio::runtime::{Builder, Runtime};
use tokio::time::timeout;

async fn wait_bounded(tasks: &Tasks) {
    timeout(Duration::from_secs(3600), tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
#[should_panic(expected = "runtime")]
fn run_outside_a_runtime_panics_with_a_message_that_says_so() {
    let tasks = Tasks::new("t");
    tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
}

#[test]
fn every_run_kind_outside_a_runtime_panics_and_counts_nothing() {
    let tasks = Tasks::new("t");
    let message = |result: std::thread::Result<()>| -> String {
        let payload = result.expect_err("run outside a runtime must panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    };
    let ctx = Context::background();
    let attempts = [
        message(catch_unwind(AssertUnwindSafe(|| {
            tasks.run(&ctx, Func::new(|_ctx| async { Ok(()) }));
        }))),
        message(catch_unwind(AssertUnwindSafe(|| {
            tasks.run_loop(&ctx, Func::new(|_ctx| async { Ok(()) }));
        }))),
        message(catch_unwind(AssertUnwindSafe(|| {
            tasks.run_background(&ctx, Func::new(|_ctx| async { Ok(()) }));
        }))),
    ];
    for message in attempts {
        assert!(
            message.contains("runtime"),
            "unclear panic message: {message:?}"
        );
    }
    assert_eq!(tasks.running(), 0);
    // And the set is usable once inside a runtime.
    current_thread().block_on(async {
        tasks.run(&ctx, Func::new(|_ctx| async { Ok(()) }));
        wait_bounded(&tasks).await;
    });
}

#[test]
fn a_runtime_dropped_with_tasks_pending_leaves_nothing_running() {
    let tasks = Tasks::new("t");
    let rt = current_thread();
    rt.block_on(async {
        // One task that has started and waits forever...
        tasks.run(
            &Context::background(),
            Func::new(|ctx: Context| async move {
                ctx.done().await;
                Ok(())
            }),
        );
        // ...and a loop that waits forever inside its first iteration.
        tasks.run_loop(
            &Context::background(),
            Func::new(|_ctx| std::future::pending()),
        );
        tokio::task::yield_now().await;
    });
    // ...and one that was never polled at all.
    let guard = rt.enter();
    tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    drop(guard);
    assert_eq!(tasks.running(), 3);

    drop(rt);
    assert_eq!(tasks.running(), 0);
    current_thread().block_on(async {
        timeout(Duration::from_secs(10), tasks.wait())
            .await
            .expect("wait must return once the runtime is gone");
    });
}

#[test]
fn tasks_run_on_the_runtime_current_at_each_call() {
    let tasks = Tasks::new("t");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        // A fresh runtime each time; the earlier ones are gone.
        let rt = current_thread();
        rt.block_on(async {
            let ran = Arc::clone(&ran);
            tasks.run(
                &Context::background(),
                Func::new(move |_ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    async { Ok(()) }
                }),
            );
            wait_bounded(&tasks).await;
        });
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);

    // A `Runtime::enter` guard is enough to start a task from synchronous code.
    let rt = current_thread();
    let guard = rt.enter();
    let flag = Arc::new(AtomicBool::new(false));
    tasks.run(&Context::background(), {
        let flag = Arc::clone(&flag);
        Func::new(move |_ctx| {
            flag.store(true, Ordering::SeqCst);
            async { Ok(()) }
        })
    });
    drop(guard);
    rt.block_on(wait_bounded(&tasks));
    assert!(flag.load(Ordering::SeqCst));
}

#[test]
fn one_set_serves_two_runtimes_at_once() {
    let tasks = Arc::new(Tasks::new("shared"));
    let threads: Vec<_> = ["rt-a", "rt-b"]
        .into_iter()
        .map(|name| {
            let tasks = Arc::clone(&tasks);
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let seen = Arc::new(Mutex::new(None));
                    current_thread().block_on(async {
                        let seen = Arc::clone(&seen);
                        tasks.run(
                            &Context::background(),
                            Func::new(move |_ctx| {
                                // A current-thread runtime polls its tasks on its own thread.
                                *seen.lock().unwrap() =
                                    std::thread::current().name().map(str::to_owned);
                                async { Ok(()) }
                            }),
                        );
                        timeout(Duration::from_secs(30), tasks.wait())
                            .await
                            .unwrap();
                    });
                    seen.lock().unwrap().clone()
                })
                .unwrap()
        })
        .collect();
    let seen: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(seen, [Some("rt-a".to_owned()), Some("rt-b".to_owned())]);
}
