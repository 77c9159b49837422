//! Escalation: `Tasks::on_failure`, `Tasks::on_panic`, `OnFailure`, `Tasks::context`, and
//! the cause a failure leaves in `ctx.cause()` and `ShutdownReport::cause`.
//!
//! Covers:
//! - `OnFailure::Report` is the default: a failure shuts nothing down;
//! - `ShutdownSet`: a failed run (an error of class `Error`) closes and cancels its set
//!   and the set's children, every other task sees the `TaskError` as `ctx.cause()`, the
//!   set's `context()` is done with it, and the report's `cause` names it (`Display` first
//!   line `shut down by NAME: ERROR`); the parent and siblings are untouched;
//! - `ShutdownParent` and `ShutdownRoot` reach the named set (a root's parent is itself), with
//!   the failing task named relative to the reported set (`a/b/x`);
//! - escalation is not inherited by children; a pool's runs escalate as the runs of the set
//!   it was made from (unless the pool's `cancel_on_error` says otherwise);
//! - panics are apart: `on_failure` ignores them, `on_panic` escalates them
//!   (`NAME panicked: MESSAGE`);
//! - not failures: a cancellation, an error classed `Warn` or `Ignore`, a `StopLoop`;
//! - a loop whose policy retries escalates only when the policy gives up (exact time), a
//!   panicking loop at once; a failing spawned task escalates too, and its handle still
//!   returns the failure;
//! - the first cause wins: a second failure, or a failure during a shutdown, changes
//!   nothing.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::context::{Cause, ContextError};
use async_tasks::task::{ErrorClass, LoopPolicy, OnFailure, ShuttingDown, StopLoop};
use async_tasks::{BoxError, Context, Func, Runner, TaskError, Tasks};
use tokio::time::{Instant, timeout};

use support::{LIMIT, named_until_done, wait_bounded};

/// A runner named `name` that fails with `error` at once.
fn failing(name: &'static str, error: &'static str) -> impl Runner + use<> {
    Func::named(name, move |_ctx| std::future::ready(Err(error.into())))
}

/// A runner that waits for its context to end and keeps its cause.
fn watcher(name: &'static str, cause: &Arc<Mutex<Option<Cause>>>) -> impl Runner + use<> {
    let cause = Arc::clone(cause);
    Func::named(name, move |ctx: Context| {
        let cause = Arc::clone(&cause);
        async move {
            ctx.done().await;
            *cause.lock().unwrap() = ctx.cause();
            Ok(())
        }
    })
}

/// Waits until the set's own context is done (bounded).
async fn shut_down(tasks: &Tasks) {
    timeout(LIMIT, tasks.context().done())
        .await
        .unwrap_or_else(|_| panic!("`{}` was not shut down", tasks.path()));
}

#[tokio::test(start_paused = true)]
async fn report_is_the_default_and_shuts_nothing_down() {
    assert_eq!(OnFailure::default(), OnFailure::Report);
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), failing("db", "connection refused"));
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("oops") }),
    );
    wait_bounded(&tasks).await;
    assert!(!tasks.context().is_done() && !tasks.is_closed());
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    assert_eq!(report.cause, None);
}

#[tokio::test(start_paused = true)]
async fn a_failure_shuts_its_set_down_with_itself_as_the_cause() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs").on_failure(OnFailure::ShutdownSet);
    let deep = jobs.child("deep");
    let sibling = svc.child("sibling");
    let (in_jobs, in_deep, in_svc) = (Arc::default(), Arc::default(), Arc::default());
    let ctx = Context::background();
    jobs.run(&ctx, watcher("api", &in_jobs));
    deep.run(&ctx, watcher("worker", &in_deep));
    svc.run(&ctx, watcher("root", &in_svc));
    sibling.run(&ctx, named_until_done("other"));
    jobs.run(&ctx, failing("db", "connection refused"));

    shut_down(&jobs).await;
    assert!(jobs.is_closed() && deep.context().is_done());
    wait_bounded(&jobs).await;
    for seen in [&in_jobs, &in_deep] {
        let cause = seen.lock().unwrap().clone().expect("the task saw no cause");
        assert_eq!(cause.to_string(), "db: connection refused");
        let failure = cause.downcast_ref::<TaskError>().expect("a TaskError");
        assert!(failure.is_failure());
        assert_eq!((failure.name(), failure.tasks()), ("db", "svc/jobs"));
        assert_eq!(failure.error().unwrap().to_string(), "connection refused");
    }
    let own = jobs.context().cause().unwrap();
    assert!(own.is::<TaskError>());
    // The parent and the sibling go on.
    assert!(!svc.context().is_done() && !svc.is_closed());
    assert!(!sibling.context().is_done());
    assert_eq!(svc.running(), 2);
    assert!(in_svc.lock().unwrap().is_none());

    let report = timeout(LIMIT, jobs.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    let cause = report.cause.clone().expect("the report names the failure");
    assert_eq!((&*cause.name, &*cause.error), ("db", "connection refused"));
    assert_eq!(
        report.to_string().lines().next(),
        Some("shut down by db: connection refused")
    );
    // The cause is an error a `main` can return as it is.
    let returned: BoxError = cause.into();
    assert_eq!(returned.to_string(), "db: connection refused");
    // A report on the parent is about the parent's shutdown: no failure caused it.
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.cause, None);
    let cause = in_svc.lock().unwrap().clone().unwrap();
    assert!(cause.is::<ShuttingDown>());
}

#[tokio::test(start_paused = true)]
async fn shutdown_parent_and_shutdown_root_reach_the_set_they_name() {
    // svc / a / b, and svc / other.
    let svc = Tasks::new("svc");
    let a = svc.child("a");
    let b = a.child("b").on_failure(OnFailure::ShutdownParent);
    let other = svc.child("other");
    b.run(&Context::background(), failing("x", "boom"));
    shut_down(&a).await;
    assert!(b.context().is_done());
    assert!(!svc.context().is_done() && !other.context().is_done());
    let report = a.shutdown_report(Duration::from_secs(1)).await;
    assert_eq!(
        report.cause.map(|c| c.to_string()).as_deref(),
        Some("b/x: boom")
    );

    let svc = Tasks::new("svc");
    let a = svc.child("a");
    let b = a.child("b").on_failure(OnFailure::ShutdownRoot);
    let other = svc.child("other");
    let seen = Arc::default();
    other.run(&Context::background(), watcher("w", &seen));
    b.run(&Context::background(), failing("x", "boom"));
    shut_down(&svc).await;
    wait_bounded(&svc).await;
    let cause = seen.lock().unwrap().clone().unwrap();
    assert_eq!(cause.to_string(), "x: boom");
    let report = svc.shutdown_report(Duration::from_secs(1)).await;
    let cause = report.cause.clone().unwrap();
    assert_eq!((&*cause.name, &*cause.error), ("a/b/x", "boom"));
    assert_eq!(
        report.to_string().lines().next(),
        Some("shut down by a/b/x: boom")
    );

    // A root's parent is the root itself.
    let root = Tasks::new("root").on_failure(OnFailure::ShutdownParent);
    root.run(&Context::background(), failing("x", "boom"));
    shut_down(&root).await;
}

#[tokio::test(start_paused = true)]
async fn escalation_is_not_inherited_by_children() {
    let svc = Tasks::new("svc")
        .on_failure(OnFailure::ShutdownRoot)
        .on_panic(OnFailure::ShutdownRoot);
    let jobs = svc.child("jobs");
    jobs.run(&Context::background(), failing("x", "boom"));
    jobs.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("oops") }),
    );
    wait_bounded(&svc).await;
    assert!(!svc.context().is_done() && !jobs.context().is_done());
}

/// A pool's runs are the runs of the set it was made from: they escalate as that set says,
/// failures and panics alike, unless the pool says otherwise (`cancel_on_error`).
#[tokio::test(start_paused = true)]
async fn a_pool_escalates_as_the_set_it_was_made_from() {
    for panics in [false, true] {
        let svc = Tasks::new("svc");
        let svc = if panics {
            svc.on_panic(OnFailure::ShutdownSet)
        } else {
            svc.on_failure(OnFailure::ShutdownSet)
        };
        let pool = svc.pool("pool", 2);
        let runner = Func::named("y", move |_ctx| async move {
            if panics {
                panic!("oops");
            }
            Err("boom".into())
        });
        pool.run(&Context::background(), runner).await.unwrap();
        let cause = timeout(LIMIT, svc.context().done()).await;
        assert!(
            cause.is_ok(),
            "the pool's failure did not shut its set down"
        );
        let cause = svc.context().cause().unwrap();
        let failure = cause.downcast_ref::<TaskError>().unwrap();
        assert_eq!(failure.name(), "y");
        assert_eq!(failure.is_panic(), panics);
        assert!(pool.is_closed());
        let errors = timeout(LIMIT, pool.wait()).await.unwrap().unwrap_err();
        assert_eq!(errors.errors().len(), 1);
    }

    // The pool's own choice wins: it shuts down itself, not the set.
    let svc = Tasks::new("svc").on_failure(OnFailure::ShutdownRoot);
    let pool = svc.pool("pool", 2).cancel_on_error(true);
    pool.run(&Context::background(), failing("y", "boom"))
        .await
        .unwrap();
    timeout(LIMIT, pool.tasks().context().done()).await.unwrap();
    assert!(!svc.context().is_done());
}

#[tokio::test(start_paused = true)]
async fn panics_escalate_only_through_on_panic() {
    let tasks = Tasks::new("svc").on_failure(OnFailure::ShutdownSet);
    tasks.run(
        &Context::background(),
        Func::named("buggy", |_ctx| async { panic!("index out of bounds") }),
    );
    wait_bounded(&tasks).await;
    assert!(
        !tasks.context().is_done(),
        "on_failure does not take panics"
    );

    let tasks = Tasks::new("svc").on_panic(OnFailure::ShutdownSet);
    tasks.run(&Context::background(), failing("db", "refused"));
    wait_bounded(&tasks).await;
    assert!(!tasks.context().is_done(), "on_panic does not take errors");
    tasks.run(
        &Context::background(),
        Func::named("buggy", |_ctx| async { panic!("index out of bounds") }),
    );
    shut_down(&tasks).await;
    let cause = tasks.context().cause().unwrap();
    assert_eq!(cause.to_string(), "buggy panicked: index out of bounds");
    let failure = cause.downcast_ref::<TaskError>().unwrap();
    assert!(failure.is_panic());
    assert_eq!(failure.panic_message(), Some("index out of bounds"));
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    assert_eq!(
        report.to_string().lines().next(),
        Some("shut down by buggy: panicked: index out of bounds")
    );
}

#[tokio::test(start_paused = true)]
async fn cancellations_warnings_ignored_errors_and_stop_loop_do_not_escalate() {
    #[derive(Debug)]
    struct Expected;
    impl std::fmt::Display for Expected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("expected")
        }
    }
    impl std::error::Error for Expected {}

    let tasks = Tasks::new("svc")
        .with_error_classes(|err| match err.to_string().as_str() {
            "client error" => ErrorClass::Warn,
            "expected" => ErrorClass::Ignore,
            _ => ErrorClass::Error,
        })
        .on_failure(OnFailure::ShutdownSet)
        .on_panic(OnFailure::ShutdownSet);
    let ctx = Context::background();
    tasks.run(&ctx, failing("warn", "client error"));
    tasks.run(
        &ctx,
        Func::new(|_ctx| async { Err(Box::new(Expected) as BoxError) }),
    );
    tasks.run(
        &ctx,
        Func::new(|_ctx| async { Err(ContextError::Canceled.into()) }),
    );
    tasks.run_loop(&ctx, Func::new(|_ctx| async { Err(StopLoop.into()) }));
    let handle = tasks.spawn(&ctx, "canceled", |_ctx| async {
        Err::<(), _>(ContextError::Canceled)
    });
    assert!(handle.await.unwrap_err().is_canceled());
    wait_bounded(&tasks).await;
    assert!(!tasks.context().is_done() && !tasks.is_closed());

    // A deadline is a failure, though.
    tasks.run(
        &ctx,
        Func::named("slow", |_ctx| async {
            Err(ContextError::DeadlineExceeded.into())
        }),
    );
    shut_down(&tasks).await;
    assert_eq!(
        tasks.context().cause().unwrap().to_string(),
        "slow: context deadline exceeded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retrying_loop_escalates_only_when_its_policy_gives_up() {
    let tasks = Tasks::new("svc").on_failure(OnFailure::ShutdownSet);
    let policy = LoopPolicy::new()
        .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(1)))
        .max_failures(3);
    let start = Instant::now();
    tasks.run_loop_with(
        &Context::background(),
        failing("poller", "upstream down"),
        policy,
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!tasks.context().is_done(), "two failures, retried");
    shut_down(&tasks).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    assert_eq!(
        report.cause.map(|c| c.to_string()).as_deref(),
        Some("poller: upstream down")
    );

    // A panic is a bug, not a failure to retry: it escalates at once.
    let tasks = Tasks::new("svc").on_panic(OnFailure::ShutdownSet);
    let start = Instant::now();
    tasks.run_loop_with(
        &Context::background(),
        Func::named("poller", |_ctx| async { panic!("bug") }),
        LoopPolicy::new().on_error(ConstantBuilder::default().with_delay(Duration::from_secs(1))),
    );
    shut_down(&tasks).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_failing_spawned_task_escalates_and_its_handle_still_says_why() {
    let tasks = Tasks::new("svc").on_failure(OnFailure::ShutdownSet);
    let seen = Arc::default();
    tasks.run(&Context::background(), watcher("api", &seen));
    let id = 7;
    let handle = tasks.spawn(&Context::background(), format!("job-{id}"), |_ctx| async {
        Err::<u32, _>(std::io::Error::other("disk full"))
    });
    let err = timeout(LIMIT, handle).await.unwrap().unwrap_err();
    assert!(err.is_failure());
    assert_eq!(err.to_string(), "job-7: disk full");
    shut_down(&tasks).await;
    wait_bounded(&tasks).await;
    assert_eq!(
        seen.lock().unwrap().clone().unwrap().to_string(),
        "job-7: disk full"
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_cause_wins() {
    let tasks = Tasks::new("svc").on_failure(OnFailure::ShutdownSet);
    tasks.run(&Context::background(), failing("first", "one"));
    shut_down(&tasks).await;
    tasks.run(&Context::background(), failing("second", "two"));
    wait_bounded(&tasks).await;
    assert_eq!(tasks.context().cause().unwrap().to_string(), "first: one");

    // A failure during a shutdown does not become its cause.
    let tasks = Tasks::new("svc").on_failure(OnFailure::ShutdownSet);
    tasks.run(
        &Context::background(),
        Func::named("cleanup", |ctx: Context| async move {
            ctx.done().await;
            Err("cleanup failed".into())
        }),
    );
    tokio::task::yield_now().await;
    let report = timeout(LIMIT, tasks.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.cause, None);
    assert_eq!(report.failed.len(), 1);
    assert!(tasks.context().cause().unwrap().is::<ShuttingDown>());
}
