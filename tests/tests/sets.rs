//! Nested sets (`Tasks::child`, `Tasks::path`) and pools inside a set (`Tasks::pool`).
//!
//! Covers:
//! - `path()` joins the names from the root (`svc/jobs/deep`); a pool's set is a child too;
//!   `Pool::new` stays a root of its own;
//! - a parent's `running`, `wait` and `snapshot` cover its children recursively, with each
//!   task's set path in `TaskInfo::tasks`; a child's cover only its own subtree;
//! - a child shut down alone leaves its parent and siblings running and open, with
//!   `ShuttingDown` naming the child's path as the cause its tasks see;
//! - a parent's `shutdown_report` reaches every descendant: finished and aborted tasks named
//!   relative to the reported set (`jobs/import`, `jobs/deep/x`), nothing left running;
//! - a child made after its parent closed or shut down is born so;
//! - a child's runs are reported under the child's name and path, and classed by its parent's
//!   classes unless it has its own (also classes set on the parent later);
//! - a pool's runs are its set's: listed as `TaskKind::Pool` under their own names, counted,
//!   canceled and aborted by its report (their futures dropped, their slots freed), and
//!   `Pool::run` refused with `AdmitError::Closed` once the set closes — also while waiting
//!   for a slot; `AdmitError::Context` when the caller's context ends first;
//! - two reports at once, on a parent and its child, both see a task that ends meanwhile.
//!
//! Waiting across nested sets is in `nested_wait.rs`.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::pool::{AdmitError, Pool};
use async_tasks::task::{ErrorClass, ShuttingDown, TaskKind};
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, Func, Tasks};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};
use tracing::Level;

use support::{
    Counter, DropFlag, Gate, LIMIT, named_stubborn, named_until_done, recv_n, wait_bounded,
};

/// `(set path, name, kind)` of every task in a snapshot, sorted.
fn listed(tasks: &Tasks) -> Vec<(String, String, TaskKind)> {
    let mut seen: Vec<_> = tasks
        .snapshot()
        .tasks
        .into_iter()
        .map(|t| (t.tasks, t.name, t.kind))
        .collect();
    seen.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    seen
}

fn entry(path: &str, name: &str, kind: TaskKind) -> (String, String, TaskKind) {
    (path.to_owned(), name.to_owned(), kind)
}

#[test]
fn path_joins_the_names_from_the_root() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child(String::from("deep"));
    assert_eq!(svc.path(), "svc");
    assert_eq!(jobs.path(), "svc/jobs");
    assert_eq!((deep.name(), deep.path()), ("deep", "svc/jobs/deep"));
    assert_eq!(jobs.pool("p", 2).tasks().path(), "svc/jobs/p");
    assert_eq!(Pool::new("solo").max_concurrency(2).tasks().path(), "solo");
    assert!(format!("{deep:?}").contains("svc/jobs/deep"), "{deep:?}");
}

#[tokio::test(start_paused = true)]
async fn a_parent_counts_and_waits_for_its_descendants_tasks() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child("deep");
    let sibling = svc.child("sibling");
    let gate = Gate::new();
    let g = gate.clone();
    deep.run(
        &Context::background(),
        Func::new(move |_ctx| {
            let g = g.clone();
            async move {
                g.wait().await;
                Ok(())
            }
        }),
    );
    assert_eq!((svc.running(), jobs.running(), deep.running()), (1, 1, 1));
    assert_eq!(sibling.running(), 0);

    let mut svc_wait = task::spawn(svc.wait());
    let mut jobs_wait = task::spawn(jobs.wait());
    assert_pending!(svc_wait.poll());
    assert_pending!(jobs_wait.poll());
    // The sibling has nothing to wait for.
    timeout(LIMIT, sibling.wait()).await.unwrap();

    gate.open();
    wait_bounded(&deep).await;
    assert_ready!(svc_wait.poll());
    assert_ready!(jobs_wait.poll());
    assert_eq!(svc.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_lists_the_subtree_with_each_tasks_set_path() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child("deep");
    let pool = svc.pool("p", 4);
    let (ctx, cancel) = Context::background().with_cancel();
    svc.run_loop(&ctx, named_until_done("poller"));
    jobs.run(&ctx, named_until_done("import"));
    deep.run_background(&ctx, named_until_done("bg"));
    let _handle = deep.spawn(&ctx, format!("job-{}", 7), |ctx| async move {
        ctx.done().await;
        Ok::<_, BoxError>(())
    });
    pool.run(&ctx, named_until_done("fetch")).await.unwrap();
    pool.run(
        &ctx,
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            Ok(())
        }),
    )
    .await
    .unwrap();

    assert_eq!(
        listed(&svc),
        [
            entry("svc", "poller", TaskKind::Loop),
            entry("svc/jobs", "import", TaskKind::Run),
            entry("svc/jobs/deep", "bg", TaskKind::Background),
            entry("svc/jobs/deep", "job-7", TaskKind::Spawned),
            entry("svc/p", "fetch", TaskKind::Pool),
            entry("svc/p", "p", TaskKind::Pool),
        ]
    );
    assert_eq!(svc.running(), 6);
    assert_eq!(svc.snapshot().unlisted, 0);
    // A child's snapshot is its own subtree only.
    assert_eq!(
        listed(&jobs),
        [
            entry("svc/jobs", "import", TaskKind::Run),
            entry("svc/jobs/deep", "bg", TaskKind::Background),
            entry("svc/jobs/deep", "job-7", TaskKind::Spawned),
        ]
    );
    assert_eq!(jobs.running(), 3);
    assert_eq!(pool.snapshot().tasks.len(), 2);

    // `run_background` is detached from `ctx`; the rest end with it.
    cancel.cancel();
    deep.shutdown(LIMIT).await.unwrap();
    wait_bounded(&svc).await;
    assert!(listed(&svc).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_child_shut_down_alone_leaves_its_parent_and_siblings_running() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let sibling = svc.child("sibling");
    let causes = Arc::new(Mutex::new(Vec::new()));
    let (started, mut started_rx) = mpsc::unbounded_channel();
    for set in [&svc, &jobs, &sibling] {
        let (causes, started) = (Arc::clone(&causes), started.clone());
        let path = set.path().to_owned();
        set.run(
            &Context::background(),
            Func::new(move |ctx: Context| {
                let (causes, started, path) = (Arc::clone(&causes), started.clone(), path.clone());
                async move {
                    started.send(()).unwrap();
                    ctx.done().await;
                    let cause = ctx.cause().unwrap();
                    let shutting = cause
                        .downcast_ref::<ShuttingDown>()
                        .map(|s| s.tasks_name().to_owned());
                    causes.lock().unwrap().push((path, ctx.err(), shutting));
                    Ok(())
                }
            }),
        );
    }
    recv_n(&mut started_rx, 3).await;

    let start = Instant::now();
    timeout(LIMIT, jobs.shutdown(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        *causes.lock().unwrap(),
        [(
            "svc/jobs".to_owned(),
            Some(ContextError::Canceled),
            Some("svc/jobs".to_owned())
        )]
    );
    assert!(jobs.is_closed() && jobs.context().is_done());
    assert!(!svc.is_closed() && !svc.context().is_done());
    assert!(!sibling.is_closed() && !sibling.context().is_done());
    assert_eq!(
        (svc.running(), jobs.running(), sibling.running()),
        (2, 0, 1)
    );

    svc.shutdown(LIMIT).await.unwrap();
    let mut causes = causes.lock().unwrap().clone();
    causes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        causes
            .iter()
            .map(|c| (&*c.0, c.2.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("svc", Some("svc")),
            ("svc/jobs", Some("svc/jobs")),
            ("svc/sibling", Some("svc"))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_parents_report_reaches_every_descendant_and_leaves_nothing_running() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child("deep");
    let pool = svc.pool("p", 2);
    let ctx = Context::background();
    svc.run_loop(&ctx, named_until_done("poller"));
    jobs.run(&ctx, named_until_done("import"));
    deep.run(&ctx, named_until_done("x"));
    jobs.run(&ctx, named_stubborn("stubborn"));
    deep.run(&ctx, named_stubborn("stuck"));
    let (flag, dropped) = DropFlag::new();
    pool.run(
        &ctx,
        Func::named("hog", move |_ctx| {
            let _flag = &flag;
            std::future::pending::<Result<(), BoxError>>()
        }),
    )
    .await
    .unwrap();
    pool.run(&ctx, named_until_done("fetch")).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(svc.running(), 7);

    let start = Instant::now();
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let mut finished = report.finished.clone();
    finished.sort();
    assert_eq!(
        finished,
        ["jobs/deep/x", "jobs/import", "p/fetch", "poller"]
    );
    assert_eq!(
        report.aborted,
        ["jobs/deep/stuck", "jobs/stubborn", "p/hog"]
    );
    assert!(report.failed.is_empty() && report.panicked.is_empty());
    assert_eq!(report.cause, None);
    assert!(!report.is_clean());
    for set in [&svc, &jobs, &deep, pool.tasks()] {
        assert_eq!(set.running(), 0, "{}", set.path());
        assert!(set.snapshot().tasks.is_empty(), "{}", set.path());
    }
    // The pool's aborted run was dropped, and its slot given back.
    assert!(dropped.load(Ordering::SeqCst));
    assert!(format!("{pool:?}").contains("free_slots: 2"), "{pool:?}");
}

#[tokio::test(start_paused = true)]
async fn a_child_made_after_its_parent_closed_or_shut_down_is_born_so() {
    let svc = Tasks::new("svc");
    svc.close();
    let late = svc.child("late");
    assert!(late.is_closed());
    assert!(late.context().is_closing() && !late.context().is_done());
    let iterations = Counter::default();
    let i = iterations.clone();
    late.run_loop(
        &Context::background(),
        Func::new(move |_ctx| {
            i.add();
            std::future::ready(Ok(()))
        }),
    );
    wait_bounded(&late).await;
    assert_eq!(
        iterations.get(),
        0,
        "a loop of a closed set runs zero times"
    );

    svc.shutdown(LIMIT).await.unwrap();
    let later = svc.child("later").child("deeper");
    assert!(later.context().is_done());
    let cause = later.context().cause().unwrap();
    assert_eq!(
        cause
            .downcast_ref::<ShuttingDown>()
            .map(ShuttingDown::tasks_name),
        Some("svc")
    );
}

#[tokio::test]
async fn a_childs_runs_are_reported_under_its_name_and_path() {
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let ctx = Context::background();
    jobs.run(&ctx, Func::new(|_ctx| async { Err("boom".into()) }));
    jobs.run(
        &ctx,
        Func::named("import", |_ctx| async { Err("bad csv".into()) }),
    );
    wait_bounded(&svc).await;

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(span.field("task.name"), Some("jobs"));
        assert_eq!(span.field("otel.name"), Some("jobs"));
    }
    let mut events: Vec<_> = recorder
        .events()
        .into_iter()
        .map(|e| {
            (
                e.level(),
                e.target(),
                e.field("task").map(str::to_owned),
                e.field("tasks").map(str::to_owned),
                e.message().map(str::to_owned),
            )
        })
        .collect();
    events.sort_by(|a, b| a.4.cmp(&b.4));
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        events,
        [
            (
                Level::ERROR,
                "async_tasks",
                some("import"),
                some("svc/jobs"),
                some("task \"import\" failed: bad csv")
            ),
            (
                Level::ERROR,
                "async_tasks",
                some("jobs"),
                some("svc/jobs"),
                some("task \"jobs\" failed: boom")
            ),
        ]
    );
}

#[tokio::test]
async fn a_child_without_classes_of_its_own_uses_its_parents() {
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let inherits = svc.child("inherits");
    let deeper = inherits.child("deeper");
    let pool = svc.pool("pool", 1);
    let own = svc.child("own").with_error_classes(|_| ErrorClass::Error);
    // Set on the parent after the children were made: they follow it still.
    let svc = svc.with_error_classes(|_| ErrorClass::Warn);
    let ctx = Context::background();
    let fail = |name: &'static str| Func::named(name, |_ctx| async { Err("nope".into()) });
    inherits.run(&ctx, fail("inherits"));
    deeper.run(&ctx, fail("deeper"));
    own.run(&ctx, fail("own"));
    pool.run(&ctx, fail("pooled")).await.unwrap();
    wait_bounded(&svc).await;

    let mut levels: Vec<_> = recorder
        .events()
        .iter()
        .map(|e| (e.field("task").unwrap().to_owned(), e.level()))
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        [
            ("deeper".to_owned(), Level::WARN),
            ("inherits".to_owned(), Level::WARN),
            ("own".to_owned(), Level::ERROR),
            ("pooled".to_owned(), Level::WARN),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_pools_runs_are_its_sets_runs() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 3);
    let ctx = Context::background();
    pool.run(&ctx, named_until_done("import")).await.unwrap();
    pool.run(
        &ctx,
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            Err(ContextError::Canceled.into())
        }),
    )
    .await
    .unwrap();
    pool.run(
        &ctx,
        Func::named("broken", |ctx: Context| async move {
            ctx.done().await;
            Err("cleanup failed".into())
        }),
    )
    .await
    .unwrap();
    assert_eq!(svc.running(), 3);
    assert_eq!(pool.running(), 3);
    assert_eq!(
        listed(&svc),
        [
            entry("svc/jobs", "broken", TaskKind::Pool),
            entry("svc/jobs", "import", TaskKind::Pool),
            entry("svc/jobs", "jobs", TaskKind::Pool),
        ]
    );

    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(report.finished, ["jobs/import"]);
    // It returned the context's error: canceled, told apart from finished.
    assert_eq!(report.canceled, ["jobs"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (&*report.failed[0].name, &*report.failed[0].error),
        ("jobs/broken", "cleanup failed")
    );
    assert!(report.is_clean());
    assert_eq!((svc.running(), pool.running()), (0, 0));
    assert!(pool.is_closed());

    let ran = Counter::default();
    let r = ran.clone();
    let refused = pool
        .run(
            &ctx,
            Func::new(move |_ctx| {
                r.add();
                std::future::ready(Ok(()))
            }),
        )
        .await;
    assert_eq!(refused, Err(AdmitError::Closed));
    assert!(refused.unwrap_err().to_string().contains("closed"));
    wait_bounded(&svc).await;
    assert_eq!(ran.get(), 0);
    // The failure is the pool's too.
    let errors = timeout(LIMIT, pool.wait()).await.unwrap().unwrap_err();
    assert_eq!(errors.errors().len(), 1);
    assert_eq!(errors.errors()[0].name(), "broken");
    assert_eq!(errors.errors()[0].tasks(), "svc/jobs");
}

#[tokio::test(start_paused = true)]
async fn a_pool_admission_waiting_for_a_slot_is_refused_when_its_set_closes() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1);
    let ctx = Context::background();
    pool.run(&ctx, named_until_done("hog")).await.unwrap();
    let ran = Counter::default();
    let r = ran.clone();
    let mut waiting = task::spawn(pool.run(
        &ctx,
        Func::new(move |_ctx| {
            r.add();
            std::future::ready(Ok(()))
        }),
    ));
    assert_pending!(waiting.poll());
    svc.close();
    assert!(waiting.is_woken());
    assert_eq!(assert_ready!(waiting.poll()), Err(AdmitError::Closed));
    // Close does not cancel: the hog is still there, and its set still waits for it.
    assert_eq!(svc.running(), 1);
    svc.shutdown(LIMIT).await.unwrap();
    assert_eq!(ran.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_pool_admission_ends_with_the_callers_context() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1);
    pool.run(&Context::background(), named_until_done("hog"))
        .await
        .unwrap();
    let (impatient, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
    let start = Instant::now();
    let refused = timeout(LIMIT, pool.run(&impatient, named_until_done("late")))
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(AdmitError::Context(ContextError::DeadlineExceeded))
    );
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let (canceled, cancel) = Context::background().with_cancel();
    cancel.cancel();
    assert_eq!(
        pool.run(&canceled, named_until_done("late")).await,
        Err(AdmitError::Context(ContextError::Canceled))
    );
    assert_eq!(listed(&svc), [entry("svc/jobs", "hog", TaskKind::Pool)]);
    svc.shutdown(LIMIT).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn reports_on_a_parent_and_its_child_at_once_both_see_a_task_that_ends() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let ctx = Context::background();
    jobs.run(&ctx, named_until_done("import"));
    jobs.run(&ctx, named_stubborn("stubborn"));
    tokio::task::yield_now().await;

    let (parent, child) = timeout(LIMIT, async {
        tokio::join!(
            svc.shutdown_report(Duration::from_secs(3)),
            jobs.shutdown_report(Duration::from_secs(1)),
        )
    })
    .await
    .unwrap();
    assert_eq!(child.finished, ["import"]);
    assert_eq!(child.aborted, ["stubborn"]);
    assert_eq!(parent.finished, ["jobs/import"]);
    assert_eq!(parent.aborted, ["jobs/stubborn"]);
    assert_eq!(svc.running(), 0);
}
