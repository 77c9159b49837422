//! `Tasks::run`, `Tasks::wait` and `Tasks::running`.
//!
//! Covers:
//! - `Tasks: Send + Sync`; `Tasks::new` needs no runtime;
//! - `run` runs the runner once, with a context that is a child of the caller's: it carries
//!   the caller's deadline and is canceled with it;
//! - `run` with an already-done ctx still runs the runner, which sees the error;
//! - `running()` counts a task from the moment `run()` returns, before it is first polled;
//! - `wait()` returns at once on an empty set, waits for every task (exact paused time),
//!   also for tasks started by tasks on the same set, can be called again after more runs,
//!   can be dropped and called again, and serves several waiters; sets are independent;
//! - a failing or panicking runner ends its task only: `wait()` returns, the others go on,
//!   also on a multi-thread runtime;
//! - many tasks started from many threads are all counted and waited for.
//!
//! Which runtime a task runs on, and what happens without one, is in `runtime.rs`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{BoxError, Context, Func, Tasks, sleep};
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// A runner that records the error of its context when it starts.
fn recording(seen: &Arc<Mutex<Vec<Option<ContextError>>>>) -> impl async_tasks::Runner + use<> {
    let seen = Arc::clone(seen);
    Func::new(move |ctx: Context| {
        seen.lock().unwrap().push(ctx.err());
        std::future::ready(Ok(()))
    })
}

#[test]
fn tasks_is_send_and_sync_and_new_needs_no_runtime() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Tasks>();

    let tasks = Tasks::new("workers");
    assert_eq!(tasks.name(), "workers");
    assert_eq!(tasks.running(), 0);
    let owned = Tasks::new(String::from("owned"));
    assert_eq!(owned.name(), "owned");
    assert!(format!("{tasks:?}").contains("workers"));
}

#[tokio::test(start_paused = true)]
async fn run_runs_the_runner_once_under_the_callers_deadline() {
    let tasks = Tasks::new("t");
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(10));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(None));
    tasks.run(&ctx, {
        let (calls, seen) = (Arc::clone(&calls), Arc::clone(&seen));
        Func::new(move |ctx: Context| {
            calls.fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&seen);
            async move {
                let deadline = ctx.deadline();
                ctx.done().await;
                *seen.lock().unwrap() = Some((deadline, ctx.err(), Instant::now()));
                Ok(())
            }
        })
    });
    wait_bounded(&tasks).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (deadline, err, at) = seen.lock().unwrap().take().unwrap();
    assert_eq!(deadline, ctx.deadline());
    assert_eq!(err, Some(ContextError::DeadlineExceeded));
    assert_eq!(at - start, Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn canceling_the_callers_ctx_reaches_the_task() {
    let tasks = Tasks::new("t");
    let (ctx, cancel) = Context::background().with_cancel();
    let seen = Arc::new(Mutex::new(None));
    tasks.run(&ctx, {
        let seen = Arc::clone(&seen);
        Func::new(move |ctx: Context| {
            let seen = Arc::clone(&seen);
            async move {
                ctx.done().await;
                *seen.lock().unwrap() = ctx.err();
                Ok(())
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tasks.running(), 1, "the task must wait for the cancel");
    cancel.cancel();
    wait_bounded(&tasks).await;
    assert_eq!(*seen.lock().unwrap(), Some(ContextError::Canceled));
}

#[tokio::test]
async fn run_with_a_done_ctx_still_runs_and_the_runner_sees_the_error() {
    let tasks = Tasks::new("t");
    let seen = Arc::new(Mutex::new(Vec::new()));

    let (canceled, cancel) = Context::background().with_cancel();
    cancel.cancel();
    tasks.run(&canceled, recording(&seen));
    wait_bounded(&tasks).await;

    let (expired, _c) = Context::background().with_timeout(Duration::ZERO);
    tasks.run(&expired, recording(&seen));
    wait_bounded(&tasks).await;

    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some(ContextError::Canceled),
            Some(ContextError::DeadlineExceeded)
        ]
    );
}

#[tokio::test]
async fn running_counts_a_task_before_it_is_first_polled() {
    let tasks = Tasks::new("t");
    let started = Arc::new(AtomicUsize::new(0));
    let runner = || {
        let started = Arc::clone(&started);
        Func::new(move |_ctx| {
            started.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
    };
    tasks.run(&Context::background(), runner());
    // Current-thread runtime and no `.await` yet: the task cannot have been polled.
    assert_eq!(started.load(Ordering::SeqCst), 0);
    assert_eq!(tasks.running(), 1);
    tasks.run(&Context::background(), runner());
    assert_eq!(tasks.running(), 2);
    wait_bounded(&tasks).await;
    assert_eq!(started.load(Ordering::SeqCst), 2);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_on_an_empty_set_returns_at_once() {
    let tasks = Tasks::new("empty");
    let start = Instant::now();
    wait_bounded(&tasks).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn wait_returns_once_every_task_has_finished() {
    let tasks = Tasks::new("t");
    let finished = Arc::new(AtomicUsize::new(0));
    for secs in [3, 1, 2] {
        let finished = Arc::clone(&finished);
        tasks.run(
            &Context::background(),
            Func::new(move |ctx: Context| {
                let finished = Arc::clone(&finished);
                async move {
                    sleep(&ctx, Duration::from_secs(secs)).await?;
                    finished.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }),
        );
    }
    assert_eq!(tasks.running(), 3);
    let start = Instant::now();
    wait_bounded(&tasks).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(finished.load(Ordering::SeqCst), 3);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_also_waits_for_tasks_started_by_tasks() {
    // A chain: each task sleeps a second, then starts the next one on the same set.
    fn link(
        tasks: Arc<Tasks>,
        left: usize,
        last_done: Arc<AtomicBool>,
    ) -> impl async_tasks::Runner {
        Func::new(move |ctx: Context| {
            let (tasks, last_done) = (Arc::clone(&tasks), Arc::clone(&last_done));
            async move {
                sleep(&ctx, Duration::from_secs(1)).await?;
                if left == 0 {
                    last_done.store(true, Ordering::SeqCst);
                } else {
                    let next = link(Arc::clone(&tasks), left - 1, last_done);
                    tasks.run(&ctx, next);
                }
                Ok(())
            }
        })
    }

    let tasks = Arc::new(Tasks::new("t"));
    let last_done = Arc::new(AtomicBool::new(false));
    tasks.run(
        &Context::background(),
        link(Arc::clone(&tasks), 3, Arc::clone(&last_done)),
    );
    let start = Instant::now();
    wait_bounded(&tasks).await;
    assert!(
        last_done.load(Ordering::SeqCst),
        "wait returned before the last task ran"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_can_be_called_again_after_more_runs() {
    let tasks = Tasks::new("t");
    let count = Arc::new(AtomicUsize::new(0));
    let runner = || {
        let count = Arc::clone(&count);
        Func::new(move |ctx: Context| {
            let count = Arc::clone(&count);
            async move {
                sleep(&ctx, Duration::from_secs(2)).await?;
                count.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
    };
    tasks.run(&Context::background(), runner());
    wait_bounded(&tasks).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);

    tasks.run(&Context::background(), runner());
    assert_eq!(tasks.running(), 1);
    let start = Instant::now();
    wait_bounded(&tasks).await;
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "the second wait must wait"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_wait_can_be_called_again_and_several_waiters_all_return() {
    let tasks = Arc::new(Tasks::new("t"));
    tasks.run(
        &Context::background(),
        Func::new(|ctx: Context| async move {
            sleep(&ctx, Duration::from_secs(5)).await?;
            Ok(())
        }),
    );
    let start = Instant::now();
    assert!(timeout(Duration::from_secs(1), tasks.wait()).await.is_err());
    let other = tokio::spawn({
        let tasks = Arc::clone(&tasks);
        async move {
            tasks.wait().await;
            Instant::now()
        }
    });
    wait_bounded(&tasks).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let other_done = timeout(LIMIT, other).await.unwrap().unwrap();
    assert_eq!(other_done - start, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn sets_are_independent() {
    let slow = Tasks::new("slow");
    let fast = Tasks::new("fast");
    let (ctx, cancel) = Context::background().with_cancel();
    slow.run(
        &ctx,
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            Ok(())
        }),
    );
    fast.run(&ctx, Func::new(|_ctx| async { Ok(()) }));
    assert_eq!((slow.running(), fast.running()), (1, 1));
    wait_bounded(&fast).await;
    assert_eq!((slow.running(), fast.running()), (1, 0));
    cancel.cancel();
    wait_bounded(&slow).await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_ends_alone() {
    let tasks = Tasks::new("t");
    let other_finished = Arc::new(AtomicBool::new(false));
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { Err::<(), BoxError>("boom".into()) }),
    );
    tasks.run(&Context::background(), {
        let other_finished = Arc::clone(&other_finished);
        Func::new(move |ctx: Context| {
            let other_finished = Arc::clone(&other_finished);
            async move {
                sleep(&ctx, Duration::from_secs(1)).await?;
                other_finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        })
    });
    wait_bounded(&tasks).await;
    assert!(other_finished.load(Ordering::SeqCst));
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_takes_neither_wait_nor_other_tasks_down() {
    let tasks = Tasks::new("t");
    let other_finished = Arc::new(AtomicBool::new(false));
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("task blew up") }),
    );
    tasks.run(&Context::background(), {
        let other_finished = Arc::clone(&other_finished);
        Func::new(move |ctx: Context| {
            let other_finished = Arc::clone(&other_finished);
            async move {
                sleep(&ctx, Duration::from_secs(1)).await?;
                other_finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        })
    });
    wait_bounded(&tasks).await;
    assert!(other_finished.load(Ordering::SeqCst));
    assert_eq!(tasks.running(), 0);

    // The set still works afterwards.
    let ran = Arc::new(AtomicBool::new(false));
    tasks.run(&Context::background(), {
        let ran = Arc::clone(&ran);
        Func::new(move |_ctx| {
            ran.store(true, Ordering::SeqCst);
            async { Ok(()) }
        })
    });
    wait_bounded(&tasks).await;
    assert!(ran.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_on_a_multi_thread_runtime_do_not_take_wait_down() {
    let tasks = Tasks::new("t");
    for i in 0..20 {
        tasks.run(
            &Context::background(),
            Func::new(move |_ctx| async move {
                if i % 2 == 0 {
                    panic!("task {i} blew up");
                }
                Ok(())
            }),
        );
    }
    timeout(Duration::from_secs(30), tasks.wait())
        .await
        .expect("wait did not return");
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_from_many_threads_are_all_counted_and_waited_for() {
    let tasks = Arc::new(Tasks::new("t"));
    let count = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let (tasks, count, release_rx) =
                (Arc::clone(&tasks), Arc::clone(&count), release_rx.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let (count, release_rx) = (Arc::clone(&count), release_rx.clone());
                    tasks.run(
                        &Context::background(),
                        Func::new(move |_ctx| {
                            let (count, mut release_rx) = (Arc::clone(&count), release_rx.clone());
                            async move {
                                release_rx.wait_for(|go| *go).await?;
                                count.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            }
                        }),
                    );
                }
            })
        })
        .collect();
    for starter in starters {
        starter.await.unwrap();
    }
    assert_eq!(tasks.running(), 200, "every started task is counted");
    release_tx.send(true).unwrap();
    timeout(Duration::from_secs(30), tasks.wait())
        .await
        .expect("wait did not return");
    assert_eq!(count.load(Ordering::SeqCst), 200);
    assert_eq!(tasks.running(), 0);
}
