//! `Tasks::spawn`, `TaskHandle` and `TaskError`.
//!
//! Covers:
//! - `spawn` takes a `&'static str` or a `String` name, an `FnOnce` that owns what it uses,
//!   any `E: Into<BoxError>`; the handle is a `Send + Unpin` future of the value, with
//!   `name()`, `is_finished()` and `abort()`, and is cancel safe to await;
//! - `TaskError` says which: failed (`is_failure`, `error()` downcasts), panicked in the
//!   future or in `f` before it returned one (`is_panic`, `panic_message`), canceled
//!   (`is_canceled`, also for an error wrapping `ContextError::Canceled`; a deadline is a
//!   failure), aborted (`is_aborted`); `Display` and `tasks()`;
//! - aborting: before the first poll `f` is never called; after the end the value stays;
//! - a dropped handle detaches: the task runs on, the set waits for it and shuts it down;
//! - a full member of its set: counted in `running` from the moment `spawn` returns, listed
//!   in `snapshot` (kind `Spawned`, its name, its set's path), gets a context joined to the
//!   caller's and the set's, canceled by `shutdown`, aborted at the end of a report's grace
//!   period (its handle then `is_aborted`), listed as aborted when its handle aborts it
//!   during a report, named `jobs/job-1` in a parent's report; aborted when its runtime goes;
//! - reported once: one `"task"` span, a child of the caller's span, and one ERROR event for
//!   a failure or a panic (none for a cancellation), named by the spawn's name and set path.

mod support;

use std::error::Error;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::task::TaskKind;
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, TaskError, TaskHandle, Tasks};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_test::{assert_pending, assert_ready, task};
use tracing::Level;

use support::{Counter, DropFlag, Gate, LIMIT, recv_n, wait_bounded};

/// An error whose `source()` is a `ContextError`.
#[derive(Debug)]
struct Wrapped(ContextError);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query aborted")
    }
}

impl Error for Wrapped {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

async fn bounded<T>(handle: TaskHandle<T>) -> Result<T, TaskError> {
    timeout(LIMIT, handle)
        .await
        .expect("the spawned task did not end")
}

#[test]
fn a_handle_is_a_send_unpin_future() {
    fn check<T: Send + Unpin + std::future::Future + fmt::Debug>() {}
    check::<TaskHandle<u32>>();
    fn error<T: Error + Send + Sync + Clone + 'static>() {}
    error::<TaskError>();
}

#[tokio::test]
async fn the_handle_gives_the_value_of_a_closure_that_owns_what_it_uses() {
    let tasks = Tasks::new("svc");
    let (jobs, mut queue) = mpsc::channel::<u32>(4);
    let sum = tasks.spawn(
        &Context::background(),
        "dispatcher",
        move |_ctx| async move {
            let mut total = 0;
            while let Some(job) = queue.recv().await {
                total += job;
            }
            Ok::<_, std::io::Error>(total)
        },
    );
    assert_eq!(sum.name(), "dispatcher");
    for job in 1..=4 {
        jobs.send(job).await.unwrap();
    }
    drop(jobs);
    assert_eq!(bounded(sum).await.unwrap(), 10);

    let id = 42;
    let named = tasks.spawn(&Context::background(), format!("job-{id}"), |_ctx| async {
        Ok::<_, anyhow::Error>("done".to_owned())
    });
    assert_eq!(named.name(), "job-42");
    assert!(format!("{named:?}").contains("job-42"));
    assert_eq!(bounded(named).await.unwrap(), "done");
    assert_eq!(tasks.running(), 0);
}

#[tokio::test]
async fn a_task_error_says_how_the_task_did_not_succeed() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs");
    let ctx = Context::background();

    let err = bounded(jobs.spawn(&ctx, "io", |_ctx| async {
        Err::<(), _>(std::io::Error::new(std::io::ErrorKind::NotFound, "no file"))
    }))
    .await
    .unwrap_err();
    assert!(err.is_failure() && !err.is_panic() && !err.is_canceled() && !err.is_aborted());
    assert_eq!((err.name(), err.tasks()), ("io", "svc/jobs"));
    let io = err
        .error()
        .unwrap()
        .downcast_ref::<std::io::Error>()
        .unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(err.to_string(), "io: no file");
    assert!(err.source().is_some());

    let err = bounded(jobs.spawn(&ctx, "late", |_ctx| async {
        Err::<(), _>(ContextError::DeadlineExceeded)
    }))
    .await
    .unwrap_err();
    assert!(
        err.is_failure() && !err.is_canceled(),
        "a deadline is a failure"
    );

    let err = bounded(jobs.spawn(&ctx, "panics", |_ctx| async {
        if true {
            panic!("index out of bounds");
        }
        Ok::<(), BoxError>(())
    }))
    .await
    .unwrap_err();
    assert!(err.is_panic() && !err.is_failure());
    assert_eq!(err.panic_message(), Some("index out of bounds"));
    assert!(err.error().is_none());
    assert_eq!(err.to_string(), "panics panicked: index out of bounds");

    let err = bounded(jobs.spawn(
        &ctx,
        "panics-early",
        |_ctx| -> std::future::Ready<Result<(), BoxError>> { panic!("before the future") },
    ))
    .await
    .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("before the future"));

    let err = bounded(jobs.spawn(&ctx, "canceled", |_ctx| async {
        Err::<(), _>(ContextError::Canceled)
    }))
    .await
    .unwrap_err();
    assert!(err.is_canceled() && !err.is_failure());
    assert_eq!(err.to_string(), "canceled was canceled: context canceled");

    let err = bounded(jobs.spawn(&ctx, "wrapped", |_ctx| async {
        Err::<(), _>(Wrapped(ContextError::Canceled))
    }))
    .await
    .unwrap_err();
    assert!(err.is_canceled());
    assert_eq!(err.error().unwrap().to_string(), "query aborted");

    assert_eq!(tasks.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn abort_before_the_first_poll_never_calls_f_and_after_the_end_keeps_the_value() {
    let tasks = Tasks::new("svc");
    let called = Counter::default();
    let c = called.clone();
    let handle = tasks.spawn(&Context::background(), "never", move |_ctx| async move {
        c.add();
        Ok::<_, BoxError>(())
    });
    assert_eq!(tasks.running(), 1, "counted before it is first polled");
    assert!(!handle.is_finished());
    handle.abort();
    let err = bounded(handle).await.unwrap_err();
    assert!(err.is_aborted());
    assert_eq!(err.to_string(), "never was aborted");
    assert_eq!(err.tasks(), "svc");
    assert_eq!(called.get(), 0);
    wait_bounded(&tasks).await;
    assert!(tasks.snapshot().tasks.is_empty());

    let handle = tasks.spawn(&Context::background(), "quick", |_ctx| async {
        Ok::<_, BoxError>(3)
    });
    wait_bounded(&tasks).await;
    assert!(handle.is_finished());
    handle.abort();
    assert_eq!(bounded(handle).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn awaiting_a_handle_is_cancel_safe() {
    let tasks = Tasks::new("svc");
    let gate = Gate::new();
    let g = gate.clone();
    let mut handle = tasks.spawn(&Context::background(), "slow", move |_ctx| async move {
        g.wait().await;
        Ok::<_, BoxError>(9)
    });
    assert!(timeout(Duration::from_secs(1), &mut handle).await.is_err());
    let mut polled = task::spawn(&mut handle);
    assert_pending!(polled.poll());
    drop(polled);
    gate.open();
    assert_eq!(bounded(handle).await.unwrap(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_handle_detaches_and_the_set_still_owns_the_task() {
    let tasks = Tasks::new("svc");
    let gate = Gate::new();
    let (done_tx, done_rx) = oneshot::channel();
    let g = gate.clone();
    drop(
        tasks.spawn(&Context::background(), "detached", move |_ctx| async move {
            g.wait().await;
            done_tx.send(()).unwrap();
            Ok::<_, BoxError>(())
        }),
    );
    assert_eq!(tasks.running(), 1);
    let mut wait = task::spawn(tasks.wait());
    assert_pending!(wait.poll());
    gate.open();
    timeout(LIMIT, done_rx).await.unwrap().unwrap();
    wait_bounded(&tasks).await;
    assert_ready!(wait.poll());

    // Detached and waiting for its context: shutdown ends it.
    let (flag, dropped) = DropFlag::new();
    drop(
        tasks.spawn(&Context::background(), "server", move |ctx| async move {
            let _flag = flag;
            ctx.done().await;
            Err::<(), _>(ContextError::Canceled)
        }),
    );
    timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
        .await
        .unwrap()
        .unwrap();
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_is_a_full_member_of_its_set() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let (caller, cancel_caller) = Context::background().with_cancel();
    let (ctx_tx, mut ctx_rx) = mpsc::unbounded_channel();
    let canceled = jobs.spawn(&caller, "job-1", move |ctx| async move {
        ctx_tx.send(ctx.clone()).unwrap();
        ctx.done().await;
        Err::<(), _>(ContextError::Canceled)
    });
    let stubborn = jobs.spawn(&caller, String::from("job-2"), |_ctx| async {
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(())
    });
    let aborted_by_hand = svc.spawn(&caller, "by-hand", |_ctx| async {
        std::future::pending::<()>().await;
        Ok::<_, BoxError>(())
    });
    let task_ctx = recv_n(&mut ctx_rx, 1).await.remove(0);
    assert_eq!(svc.running(), 3);
    let mut listed: Vec<_> = svc
        .snapshot()
        .tasks
        .into_iter()
        .map(|t| (t.tasks, t.name, t.kind))
        .collect();
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        listed,
        [
            ("svc".into(), "by-hand".into(), TaskKind::Spawned),
            ("svc/jobs".into(), "job-1".into(), TaskKind::Spawned),
            ("svc/jobs".into(), "job-2".into(), TaskKind::Spawned),
        ]
    );

    // The task's context is a child of the caller's and of the set's.
    let (caller2, cancel_caller2) = Context::background().with_cancel();
    let by_caller = jobs.spawn(&caller2, "by-caller", |ctx| async move {
        ctx.done().await;
        Ok::<_, BoxError>(ctx.err())
    });
    cancel_caller2.cancel();
    assert_eq!(
        bounded(by_caller).await.unwrap(),
        Some(ContextError::Canceled)
    );
    assert!(!task_ctx.is_done());
    drop(cancel_caller);

    // A report: cancels job-1, aborts job-2 at the end of the grace period, and lists the
    // task its handle aborts meanwhile.
    let mut report = task::spawn(svc.shutdown_report(Duration::from_secs(5)));
    assert_pending!(report.poll());
    aborted_by_hand.abort();
    let report = timeout(LIMIT, report).await.unwrap();
    // job-1 returned its context's error: canceled, as its handle says.
    assert!(report.finished.is_empty(), "{report:?}");
    assert_eq!(report.canceled, ["jobs/job-1"]);
    assert_eq!(report.aborted, ["by-hand", "jobs/job-2"]);
    assert_eq!(svc.running(), 0);
    assert!(bounded(canceled).await.unwrap_err().is_canceled());
    assert!(bounded(stubborn).await.unwrap_err().is_aborted());
    assert!(bounded(aborted_by_hand).await.unwrap_err().is_aborted());
}

#[tokio::test(start_paused = true)]
async fn a_spawned_task_is_drained_and_started_after_close() {
    let tasks = Tasks::new("svc");
    let running = tasks.spawn(&Context::background(), "in-flight", |ctx| async move {
        ctx.closing().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok::<_, BoxError>(ctx.is_done())
    });
    tokio::task::yield_now().await;
    tasks.close();
    let late = tasks.spawn(&Context::background(), "late", |ctx| async move {
        Ok::<_, BoxError>((ctx.is_closing(), ctx.is_done()))
    });
    timeout(LIMIT, tasks.drain(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert!(!bounded(running).await.unwrap(), "a drain does not cancel");
    assert_eq!(bounded(late).await.unwrap(), (true, false));
}

#[tokio::test]
async fn a_spawned_failure_is_reported_once_in_its_span_even_though_the_handle_returns_it() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc").child("jobs");
    let ctx = Context::background();
    let failed = tasks.spawn(&ctx, format!("job-{}", 7), |_ctx| async {
        Err::<(), _>(std::io::Error::other("disk full"))
    });
    assert!(bounded(failed).await.unwrap_err().is_failure());
    let panicked = tracing::info_span!("request2").in_scope(|| {
        tasks.spawn(&ctx, "oops", |_ctx| async {
            if true {
                panic!("bug");
            }
            Ok::<(), BoxError>(())
        })
    });
    assert!(bounded(panicked).await.unwrap_err().is_panic());
    let canceled = tasks.spawn(&ctx, "quiet", |_ctx| async {
        Err::<(), _>(ContextError::Canceled)
    });
    assert!(bounded(canceled).await.unwrap_err().is_canceled());
    wait_bounded(&tasks).await;

    let events = recorder.events();
    assert_eq!(events.len(), 2, "{}", recorder.tree());
    let failure = &events[0];
    assert_eq!(
        (failure.level(), failure.target()),
        (Level::ERROR, "async_tasks")
    );
    assert_eq!(failure.field("task"), Some("job-7"));
    assert_eq!(failure.field("tasks"), Some("svc/jobs"));
    assert_eq!(failure.field("error"), Some("disk full"));
    assert_eq!(failure.message(), Some("task \"job-7\" failed: disk full"));
    assert_eq!(failure.span().map(|s| s.name()), Some("task"));
    let panic = &events[1];
    assert_eq!(panic.level(), Level::ERROR);
    assert_eq!(panic.field("task"), Some("oops"));
    assert_eq!(panic.field("panic"), Some("bug"));

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 3);
    let parents: Vec<_> = spans.iter().map(|s| s.parent().map(|p| p.name())).collect();
    assert_eq!(
        parents[1],
        Some("request2"),
        "the span current at the spawn"
    );
    assert!(spans.iter().all(|s| s.is_closed()));
    // Each span names its task beside its set, so that what the task logs says who it is.
    let names: Vec<_> = spans.iter().map(|s| s.field("task")).collect();
    assert_eq!(names, [Some("job-7"), Some("oops"), Some("quiet")]);
    assert!(spans.iter().all(|s| s.field("task.name") == Some("jobs")));
}

/// A future that is ready at once and panics when dropped, as a hand-written future's
/// `Drop` (its cleanup) may.
struct PanicsOnDrop;

impl std::future::Future for PanicsOnDrop {
    type Output = Result<u32, BoxError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(1))
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("cleanup panicked");
        }
    }
}

/// Like `PanicsOnDrop`, around a future that waits for its context.
struct UntilDoneThenPanicsOnDrop(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>);

impl std::future::Future for UntilDoneThenPanicsOnDrop {
    type Output = Result<(), BoxError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

impl Drop for UntilDoneThenPanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("cleanup panicked");
        }
    }
}

/// `Tasks::spawn`'s docs: "A panic in `f` (also before it returns its future) does not
/// propagate: it is caught, reported, and returned by the handle." A runner's future that
/// panics in its `Drop` is caught and reported by `Tasks::run`; a spawned one is only
/// returned by the handle.
#[tokio::test(start_paused = true)]
async fn a_panic_while_the_future_is_dropped_is_caught_reported_and_returned() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    let handle = tasks.spawn(&Context::background(), "guarded", |_ctx| PanicsOnDrop);
    let err = bounded(handle).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.panic_message(), Some("cleanup panicked"));
    wait_bounded(&tasks).await;
    let panics: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.field("panic").is_some())
        .collect();
    assert_eq!(panics.len(), 1, "{}", recorder.tree());
    assert_eq!(panics[0].field("task"), Some("guarded"));
    assert_eq!(panics[0].field("tasks"), Some("svc"));

    // Ended during a report: a panic, not an abort.
    let _handle = tasks.spawn(&Context::background(), "cleanup", |ctx| {
        UntilDoneThenPanicsOnDrop(Box::pin(async move { ctx.done().await }))
    });
    tokio::task::yield_now().await;
    let report = timeout(LIMIT, tasks.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.panicked.len(), 1, "{report:?}");
    assert!(report.aborted.is_empty(), "{report:?}");
}

/// `StopLoop` is not a failure for a set (no report, no escalation, "finished" in a shutdown
/// report), but a spawned task's handle calls it one (`is_failure`): the two disagree about
/// the same run. Either the handle should not say `is_failure`, or the set should report it.
#[tokio::test]
async fn a_spawned_task_returning_stop_loop_is_judged_alike_by_its_handle_and_its_set() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    let handle = tasks.spawn(&Context::background(), "stops", |_ctx| async {
        Err::<(), _>(async_tasks::task::StopLoop)
    });
    let err = bounded(handle).await.unwrap_err();
    wait_bounded(&tasks).await;
    let reported = recorder
        .events()
        .iter()
        .filter(|e| e.level() == Level::ERROR)
        .count();
    assert_eq!(
        err.is_failure(),
        reported == 1,
        "handle: {err:?}; events: {}",
        recorder.tree()
    );
}

#[test]
fn a_task_whose_runtime_is_dropped_is_aborted() {
    let tasks = Tasks::new("svc");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = {
        let _runtime = rt.enter();
        tasks.spawn(&Context::background(), "orphan", |ctx| async move {
            ctx.done().await;
            Ok::<_, BoxError>(())
        })
    };
    rt.block_on(tokio::task::yield_now());
    assert_eq!(tasks.running(), 1);
    drop(rt);
    assert_eq!(tasks.running(), 0);
    assert!(tasks.snapshot().tasks.is_empty());
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = other.block_on(bounded(handle)).unwrap_err();
    assert!(err.is_aborted(), "{err:?}");
}

/// A `TaskError` prints its error with the whole `source()` chain, as the crate's reports
/// do: an anyhow error's contexts are not lost on the way out of the handle.
#[tokio::test]
async fn a_task_errors_display_reads_the_whole_chain() {
    use anyhow::Context as _;

    let tasks = Tasks::new("svc");
    let handle = tasks.spawn(&Context::background(), "fetch", |_ctx| async {
        let refused: anyhow::Result<()> = Err(anyhow::anyhow!("connection refused"));
        refused.context("fetching page 3")
    });
    let err = timeout(LIMIT, handle).await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "fetch: fetching page 3: connection refused"
    );
    assert_eq!(err.error().unwrap().to_string(), "fetching page 3");
}
