//! `Tasks::close`, `Tasks::is_closed`, `Tasks::drain`, `Context::is_closing` and
//! `Context::closing`.
//!
//! Covers:
//! - `drain(timeout)` lets the work in flight finish without canceling it (its context is
//!   closing, not done) and returns as soon as it has (exact paused time); on time out,
//!   `Err(ShutdownTimeout)` naming what is left ("drain of tasks ..."), which runs on, and a
//!   `shutdown` / `shutdown_report` after it cancels and aborts what is left (the idiom);
//! - after close, a loop finishes the iteration in flight and starts no other, a loop pausing
//!   under `LoopPolicy::every` or a retry backoff stops at once, a loop started later runs
//!   zero times; `Pool::run` is refused with `AdmitError::Closed`; one-shot `run`,
//!   `run_background` and `spawn` still start and run, and a task started by a draining task
//!   is drained too;
//! - close on a parent reaches its children, close on a child leaves its parent and
//!   siblings alone; closing is for good;
//! - tasks see it: `is_closing()` and `closing()` on their context, on contexts made from it,
//!   and on tasks of another set started with a context of the closed set;
//!   `Tasks::context()` is closing, not done;
//! - `closing()` resolves also when the context is done (canceled, or at its deadline);
//! - a dropped `drain` future has closed the set already.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::context::ContextError;
use async_tasks::pool::AdmitError;
use async_tasks::task::{LoopPolicy, ShuttingDown};
use async_tasks::{BoxError, Context, Func, Runner, Tasks, sleep};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};

use support::{Counter, Gate, LIMIT, named_stubborn, recv_n, wait_bounded};

/// What a task saw of its context when it ended: (is_closing, err).
type Seen = Arc<Mutex<Vec<(bool, Option<ContextError>)>>>;

/// A named job that takes `secs` seconds (on tokio's clock, ignoring its context) and
/// records what its context said at the end.
fn job(name: &'static str, secs: u64, seen: &Seen) -> impl Runner + use<> {
    let seen = Arc::clone(seen);
    Func::named(name, move |ctx: Context| {
        let seen = Arc::clone(&seen);
        async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            seen.lock().unwrap().push((ctx.is_closing(), ctx.err()));
            Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn drain_lets_the_work_in_flight_finish_without_canceling_it() {
    let tasks = Tasks::new("svc");
    let seen = Seen::default();
    let ctx = Context::background();
    tasks.run(&ctx, job("job", 10, &seen));
    tasks.run(&ctx, job("short", 3, &seen));
    let unnamed_done = Counter::default();
    let u = unnamed_done.clone();
    tasks.run(
        &ctx,
        Func::new(move |ctx: Context| {
            let u = u.clone();
            async move {
                // `sleep` ends early only when the context is done: a drain does not.
                sleep(&ctx, Duration::from_secs(7)).await?;
                u.add();
                Ok(())
            }
        }),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let start = Instant::now();
    timeout(LIMIT, tasks.drain(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(9));
    assert_eq!(*seen.lock().unwrap(), [(true, None), (true, None)]);
    assert_eq!(unnamed_done.get(), 1);
    assert_eq!(tasks.running(), 0);
    assert!(tasks.is_closed());
    assert!(tasks.context().is_closing() && !tasks.context().is_done());
}

#[tokio::test(start_paused = true)]
async fn a_drain_that_times_out_names_what_is_left_and_a_report_after_it_ends_it() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs");
    let seen = Seen::default();
    let ctx = Context::background();
    tasks.run(&ctx, job("quick", 1, &seen));
    tasks.run(&ctx, named_stubborn("stubborn"));
    jobs.run(&ctx, job("import", 100, &seen));
    // Ignores closing, ends when canceled.
    tasks.run_background(&ctx, support::named_until_done("listener"));
    tokio::task::yield_now().await;

    let start = Instant::now();
    let err = timeout(LIMIT, tasks.drain(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(err.names(), ["jobs/import", "listener", "stubborn"]);
    assert_eq!(err.tasks_name(), "svc");
    assert_eq!(
        err.to_string(),
        "drain of tasks `svc` timed out with 3 tasks still running: jobs/import, listener, stubborn"
    );
    // Nothing was canceled: they run on.
    assert_eq!(tasks.running(), 3);
    assert!(!tasks.context().is_done());
    assert_eq!(*seen.lock().unwrap(), [(true, None)]);

    // The idiom: drain, then report (which cancels and aborts what is left, and names
    // who ended during the drain too).
    let report = timeout(LIMIT, tasks.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.finished, ["quick", "listener"]);
    assert_eq!(report.aborted, ["jobs/import", "stubborn"]);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_after_drain_cancels_what_is_left() {
    let tasks = Tasks::new("svc");
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    tasks.run(
        &Context::background(),
        Func::named("server", move |ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                ctx.done().await;
                let cause = ctx.cause().unwrap();
                *s.lock().unwrap() = Some((ctx.err(), cause.is::<ShuttingDown>()));
                Ok(())
            }
        }),
    );
    let err = tasks.drain(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.names(), ["server"]);
    assert_eq!(*seen.lock().unwrap(), None);
    timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some((Some(ContextError::Canceled), true))
    );
}

#[tokio::test(start_paused = true)]
async fn a_loop_finishes_the_iteration_in_flight_and_starts_no_other() {
    let tasks = Tasks::new("svc");
    let iterations = Counter::default();
    let (started, mut started_rx) = mpsc::unbounded_channel();
    let gate = Gate::new();
    let seen = Seen::default();
    let (i, g, s) = (iterations.clone(), gate.clone(), Arc::clone(&seen));
    tasks.run_loop(
        &Context::background(),
        Func::named("poller", move |ctx: Context| {
            let n = i.add();
            let (g, s, started) = (g.clone(), Arc::clone(&s), started.clone());
            async move {
                started.send(n).unwrap();
                if n == 2 {
                    g.wait().await;
                }
                s.lock().unwrap().push((ctx.is_closing(), ctx.err()));
                Ok(())
            }
        }),
    );
    assert_eq!(recv_n(&mut started_rx, 2).await, [1, 2]);

    let mut drain = task::spawn(tasks.drain(LIMIT));
    assert_pending!(drain.poll());
    assert!(tasks.is_closed());
    gate.open();
    timeout(LIMIT, drain).await.unwrap().unwrap();
    assert_eq!(iterations.get(), 2);
    assert_eq!(*seen.lock().unwrap(), [(false, None), (true, None)]);
}

#[tokio::test(start_paused = true)]
async fn a_loop_pausing_between_iterations_stops_at_once() {
    let tasks = Tasks::new("svc");
    let every = Counter::default();
    let retrying = Counter::default();
    let (e, r) = (every.clone(), retrying.clone());
    tasks.run_loop_with(
        &Context::background(),
        Func::named("every", move |_ctx| {
            e.add();
            std::future::ready(Ok(()))
        }),
        LoopPolicy::every(Duration::from_secs(3600)),
    );
    tasks.run_loop_with(
        &Context::background(),
        Func::named("retrying", move |_ctx| {
            r.add();
            std::future::ready(Err("down".into()))
        }),
        LoopPolicy::new()
            .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(3600))),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((every.get(), retrying.get()), (1, 1));

    let start = Instant::now();
    timeout(LIMIT, tasks.drain(LIMIT)).await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!((every.get(), retrying.get()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn after_close_one_shot_work_still_runs_and_loops_and_pools_take_none() {
    let tasks = Tasks::new("svc");
    let pool = tasks.pool("jobs", 4);
    tasks.close();
    tasks.close(); // harmless
    assert!(tasks.is_closed() && pool.is_closed());

    let ran = Counter::default();
    let (r1, r2, r3, r4) = (ran.clone(), ran.clone(), ran.clone(), ran.clone());
    let ctx = Context::background();
    tasks.run(
        &ctx,
        Func::new(move |ctx: Context| {
            let r1 = r1.clone();
            async move {
                assert!(ctx.is_closing() && !ctx.is_done());
                r1.add();
                Ok(())
            }
        }),
    );
    tasks.run_background(
        &ctx,
        Func::new(move |_ctx| {
            r2.add();
            std::future::ready(Ok(()))
        }),
    );
    let handle = tasks.spawn(&ctx, "late", move |_ctx| async move {
        r3.add();
        Ok::<_, BoxError>(5)
    });
    tasks.run_loop(
        &ctx,
        Func::new(move |_ctx| {
            r4.add();
            std::future::ready(Ok(()))
        }),
    );
    let refused = pool
        .run(&ctx, Func::new(|_ctx| std::future::ready(Ok(()))))
        .await;
    assert_eq!(refused, Err(AdmitError::Closed));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "the pool is closed: it admits no new runs"
    );

    timeout(LIMIT, tasks.drain(LIMIT)).await.unwrap().unwrap();
    assert_eq!(handle.await.unwrap(), 5);
    assert_eq!(
        ran.get(),
        3,
        "run, run_background and spawn ran; the loop did not"
    );
    assert!(tasks.is_closed(), "closing is for good");
}

#[tokio::test(start_paused = true)]
async fn a_task_started_by_a_draining_task_is_drained_too() {
    let tasks = Tasks::new("svc");
    let finished = Counter::default();
    let (t, f) = (tasks.clone(), finished.clone());
    tasks.run(
        &Context::background(),
        Func::named("dispatcher", move |ctx: Context| {
            let (t, f) = (t.clone(), f.clone());
            async move {
                ctx.closing().await;
                // Hands its last job on as it stops: that job must not be dropped.
                let f2 = f.clone();
                t.run(
                    &ctx,
                    Func::named("last-job", move |_ctx| {
                        let f2 = f2.clone();
                        async move {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            f2.add();
                            Ok(())
                        }
                    }),
                );
                // Dropping the handle detaches the task.
                drop(t.spawn(&ctx, "last-spawn", move |_ctx| async move {
                    tokio::time::sleep(Duration::from_secs(6)).await;
                    f.add();
                    Ok::<_, BoxError>(())
                }));
                Ok(())
            }
        }),
    );
    tokio::task::yield_now().await;
    let start = Instant::now();
    timeout(LIMIT, tasks.drain(LIMIT)).await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    assert_eq!(finished.get(), 2);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn closing_a_parent_reaches_its_children_and_a_child_leaves_the_rest_alone() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child("deep");
    let sibling = svc.child("sibling");
    let counts: Vec<Counter> = (0..4).map(|_| Counter::default()).collect();
    for (set, count) in [&svc, &jobs, &deep, &sibling].into_iter().zip(&counts) {
        let count = count.clone();
        set.run_loop_with(
            &Context::background(),
            Func::new(move |_ctx| {
                count.add();
                std::future::ready(Ok(()))
            }),
            LoopPolicy::every(Duration::from_secs(1)),
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = || counts.iter().map(Counter::get).collect::<Vec<_>>();
    assert_eq!(now(), [2, 2, 2, 2]);

    timeout(LIMIT, jobs.drain(LIMIT)).await.unwrap().unwrap();
    assert!(jobs.is_closed() && deep.is_closed());
    assert!(!svc.is_closed() && !sibling.is_closed());
    assert_eq!(svc.running(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(now(), [4, 2, 2, 4]);

    svc.close();
    assert!(sibling.is_closed());
    timeout(LIMIT, svc.wait()).await.unwrap();
    assert_eq!(now(), [4, 2, 2, 4]);
}

#[tokio::test(start_paused = true)]
async fn tasks_see_closing_on_their_context_and_on_contexts_made_from_it() {
    let a = Tasks::new("a");
    let b = Tasks::new("b");
    let (ctx_tx, mut ctx_rx) = mpsc::unbounded_channel();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    a.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let (ctx_tx, ended_tx) = (ctx_tx.clone(), ended_tx.clone());
            async move {
                let (derived, _cancel) = ctx.with_cancel();
                ctx_tx.send((ctx.clone(), derived.clone())).unwrap();
                derived.closing().await;
                ended_tx.send((ctx.is_closing(), ctx.is_done())).unwrap();
                Ok(())
            }
        }),
    );
    let (task_ctx, derived) = recv_n(&mut ctx_rx, 1).await.remove(0);
    assert!(!task_ctx.is_closing() && !derived.is_closing());
    // A task of another set, started with the first task's context, belongs to both.
    let b_saw = Arc::new(Mutex::new(None));
    let s = Arc::clone(&b_saw);
    b.run(
        &task_ctx,
        Func::new(move |ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                ctx.closing().await;
                *s.lock().unwrap() = Some((ctx.is_closing(), ctx.is_done()));
                Ok(())
            }
        }),
    );
    let mut closing = task::spawn(task_ctx.closing());
    assert_pending!(closing.poll());

    a.close();
    assert!(closing.is_woken());
    assert_ready!(closing.poll());
    assert!(task_ctx.is_closing() && derived.is_closing() && !task_ctx.is_done());
    assert_eq!(recv_n(&mut ended_rx, 1).await, [(true, false)]);
    wait_bounded(&b).await;
    assert_eq!(*b_saw.lock().unwrap(), Some((true, false)));
    assert!(!b.is_closed(), "closing a set does not close another");
}

#[tokio::test(start_paused = true)]
async fn closing_resolves_when_the_context_is_done_too() {
    let (ctx, cancel) = Context::background().with_cancel();
    let mut closing = task::spawn(ctx.closing());
    assert_pending!(closing.poll());
    assert!(!ctx.is_closing());
    cancel.cancel();
    assert!(closing.is_woken());
    assert_ready!(closing.poll());
    assert!(ctx.is_closing());

    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
    let start = Instant::now();
    timeout(LIMIT, ctx.closing()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(ctx.is_closing());

    // A passed deadline counts without anyone polling.
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
    tokio::time::advance(Duration::from_secs(3)).await;
    assert!(ctx.is_closing());

    // The background context never closes.
    let background = Context::background();
    let mut never = task::spawn(background.closing());
    assert_pending!(never.poll());
    assert!(!Context::background().is_closing());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_drain_has_closed_the_set_already() {
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), named_stubborn("stubborn"));
    let mut drain = task::spawn(tasks.drain(LIMIT));
    assert_pending!(drain.poll());
    drop(drain);
    assert!(tasks.is_closed());
    assert_eq!(tasks.running(), 1);
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    assert_eq!(report.aborted, ["stubborn"]);
}
