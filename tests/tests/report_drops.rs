//! `shutdown_report` waits until the runs it aborted are dropped: whole, with their runner,
//! their future, their count in the set's (and its parents') `running()` and, for a pool's
//! run, its slot — so that `running()` counts none of them when it returns.
//!
//! Each test aborts one run whose runner (or future) takes 200 ms to drop, on a
//! multi-thread runtime, so that the drop happens on a worker while the report waits on the
//! test's thread; each takes about 0.7 s of real time.

mod support;

use std::time::Duration;

use async_tasks::{BoxError, Context, Func, Runner, Tasks};

use support::{Gate, LIMIT};

/// How long a run's drop takes.
const DROP: Duration = Duration::from_millis(200);
/// The report's grace period, and so the bound on its wait for the aborted runs to go:
/// longer than [`DROP`].
const GRACE: Duration = Duration::from_millis(500);

/// Takes [`DROP`] to drop, blocking its thread: a runner's (or a future's) cleanup.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(DROP);
    }
}

/// A runner named `slow` that opens `started` and then never ends, and takes [`DROP`] to
/// drop.
fn slow_runner(started: &Gate) -> impl Runner + use<> {
    let (started, slow) = (started.clone(), std::sync::Arc::new(SlowDrop));
    Func::named("slow", move |_ctx| {
        let _keep = &slow;
        started.open();
        std::future::pending::<Result<(), BoxError>>()
    })
}

/// A future that opens `started`, then never ends, and takes [`DROP`] to drop.
async fn slow_future(started: Gate) -> Result<(), BoxError> {
    let _slow = SlowDrop;
    started.open();
    std::future::pending::<()>().await;
    Ok(())
}

/// Starts one slow run on a child set of `svc` (with `start`), reports on `svc`, and checks
/// that the run was aborted and is gone, whole, when the report returns.
async fn the_report_returns_once_the_aborted_run_is_dropped(start: impl FnOnce(&Tasks, &Gate)) {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let started = Gate::new();
    start(&jobs, &started);
    tokio::time::timeout(LIMIT, started.wait())
        .await
        .expect("the run started");
    let report = svc.shutdown_report(GRACE).await;
    assert_eq!(report.aborted, ["jobs/slow"], "{report}");
    assert_eq!(
        (svc.running(), jobs.running()),
        (0, 0),
        "the report returned while its aborted run was still being dropped"
    );
}

/// Regression (reliability round 3, defect 2): the task was unlisted — which the report
/// waits for — when its membership dropped, before its runner (and the tracker's token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run() {
    the_report_returns_once_the_aborted_run_is_dropped(|jobs, started| {
        jobs.run(&Context::background(), slow_runner(started));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop() {
    the_report_returns_once_the_aborted_run_is_dropped(|jobs, started| {
        jobs.run_loop(&Context::background(), slow_runner(started));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_run() {
    the_report_returns_once_the_aborted_run_is_dropped(|jobs, started| {
        jobs.run_background(&Context::background(), slow_runner(started));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_task() {
    the_report_returns_once_the_aborted_run_is_dropped(|jobs, started| {
        let started = started.clone();
        drop(jobs.spawn(&Context::background(), "slow", move |_ctx| {
            slow_future(started)
        }));
    })
    .await;
}

/// A pool's run also gives its slot back before the report returns: the slot is the
/// runner's, dropped with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_run_and_its_slot() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1);
    let started = Gate::new();
    pool.run(&Context::background(), slow_runner(&started))
        .await
        .expect("a free slot");
    tokio::time::timeout(LIMIT, started.wait())
        .await
        .expect("the run started");
    let report = svc.shutdown_report(GRACE).await;
    assert_eq!(report.aborted, ["jobs/slow"], "{report}");
    assert_eq!((svc.running(), pool.running()), (0, 0));
    let shown = format!("{pool:?}");
    assert!(shown.contains("free_slots: 1"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_spawned_task_and_its_slot() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1);
    let started = Gate::new();
    let (ctx, gate) = (Context::background(), started.clone());
    let handle = pool
        .spawn(&ctx, "slow", move |_ctx| slow_future(gate))
        .await
        .expect("a free slot");
    drop(handle);
    tokio::time::timeout(LIMIT, started.wait())
        .await
        .expect("the run started");
    let report = svc.shutdown_report(GRACE).await;
    assert_eq!(report.aborted, ["jobs/slow"], "{report}");
    assert_eq!((svc.running(), pool.running()), (0, 0));
    let shown = format!("{pool:?}");
    assert!(shown.contains("free_slots: 1"), "{shown}");
}

/// Done when dropped, after [`DROP`]: a runner's cleanup that says when it is over.
struct SlowCleanup(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SlowCleanup {
    fn drop(&mut self) {
        std::thread::sleep(DROP);
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Found by the sweep of defect 2's class: a task's count in its parent sets went with its
/// membership, which the task's future dropped before its runner. Aborted (here by its
/// runtime going away), a child's run stopped counting in its parent's `running()` and
/// `wait()` while its runner was still being dropped.
#[test]
fn a_parents_wait_returns_once_a_childs_aborted_run_is_dropped() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let cleaned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Gate::new();
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    {
        let (cleanup, started) = (
            SlowCleanup(std::sync::Arc::clone(&cleaned)),
            started.clone(),
        );
        let _runtime = doomed.enter();
        jobs.run(
            &Context::background(),
            Func::named("slow", move |_ctx| {
                let _keep = &cleanup;
                started.open();
                std::future::pending::<Result<(), BoxError>>()
            }),
        );
    }
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    waiter.block_on(async {
        tokio::time::timeout(LIMIT, started.wait())
            .await
            .expect("the run started");
    });
    // Drops the run's future on another thread, while this one waits for the parent.
    let dropper = std::thread::spawn(move || drop(doomed));
    waiter.block_on(async {
        tokio::time::timeout(LIMIT, svc.wait())
            .await
            .expect("the parent's wait returned");
    });
    assert!(
        cleaned.load(std::sync::atomic::Ordering::SeqCst),
        "the parent's wait returned while its child's run was still being dropped"
    );
    dropper.join().unwrap();
}
