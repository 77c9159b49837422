//! Failing cleanups and early drops.
//!
//! Covers:
//! - a `Closer::close` that errs or panics inside `run_group`: reported once, the group's
//!   result unchanged, the other runners still closed;
//! - handles and futures dropped early: dropping every `Tasks` handle neither cancels nor
//!   detaches its tasks; a dropped `done()` or `run_close` future loses nothing else.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::runner::async_trait;
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Closer, Context, Func, Runner, Tasks, run_group, sleep};
use futures_util::FutureExt;
use support::{LIMIT, wait_bounded};
use tokio::time::{Instant, advance, timeout};

// ---------------------------------------------------------------------------------------
// Closers that fail

/// How a member's close behaves.
#[derive(Clone, Copy)]
enum Close {
    Ok,
    Err,
    Panic,
}

struct Member {
    name: &'static str,
    fails: bool,
    close: Option<Close>,
    closed: Arc<Mutex<Vec<&'static str>>>,
}

#[async_trait]
impl Runner for Member {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        if self.fails {
            return Err(format!("{} failed", self.name).into());
        }
        sleep(&ctx, Duration::from_secs(1)).await?;
        Ok(())
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        self.close.map(|_| self as &dyn Closer)
    }
}

#[async_trait]
impl Closer for Member {
    async fn close(&self, _ctx: Context) -> Result<(), BoxError> {
        self.closed.lock().unwrap().push(self.name);
        match self.close {
            Some(Close::Err) => Err(format!("{} close failed", self.name).into()),
            Some(Close::Panic) => panic!("{} close panicked", self.name),
            _ => Ok(()),
        }
    }
}

fn members(
    closed: &Arc<Mutex<Vec<&'static str>>>,
    spec: &[(&'static str, bool, Option<Close>)],
) -> Vec<Box<dyn Runner>> {
    spec.iter()
        .map(|&(name, fails, close)| {
            Box::new(Member {
                name,
                fails,
                close,
                closed: Arc::clone(closed),
            }) as Box<dyn Runner>
        })
        .collect()
}

/// The ERROR events' `error` and `panic` fields, sorted.
fn reported(recorder: &SpanRecorder) -> Vec<String> {
    let mut reported: Vec<String> = recorder
        .events()
        .iter()
        .flat_map(|event| {
            [
                ("error", event.field("error")),
                ("panic", event.field("panic")),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| format!("{key}: {value}")))
        })
        .collect();
    reported.sort();
    reported
}

#[tokio::test(start_paused = true)]
async fn a_close_that_errs_or_panics_is_reported_and_changes_nothing_else() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let group = run_group(members(
        &closed,
        &[
            ("a", false, Some(Close::Err)),
            ("b", false, Some(Close::Panic)),
            ("c", false, Some(Close::Ok)),
            ("d", false, None),
        ],
    ));
    let result = timeout(LIMIT, group.run(Context::background()))
        .await
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    let mut closed_now = closed.lock().unwrap().clone();
    closed_now.sort();
    assert_eq!(closed_now, ["a", "b", "c"]);
    assert_eq!(
        reported(&recorder),
        ["error: a close failed", "panic: b close panicked"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_stays_the_result_when_closes_also_fail() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let group = run_group(members(
        &closed,
        &[
            ("a", true, Some(Close::Panic)),
            ("b", false, Some(Close::Err)),
            ("c", false, Some(Close::Ok)),
        ],
    ));
    let err = timeout(LIMIT, group.run(Context::background()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.to_string(), "a failed");
    let mut closed_now = closed.lock().unwrap().clone();
    closed_now.sort();
    assert_eq!(closed_now, ["a", "b", "c"]);
    assert_eq!(
        reported(&recorder),
        ["error: b close failed", "panic: a close panicked"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_with_failing_closes_under_tasks_is_reported_once_each() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        run_group(members(
            &closed,
            &[
                ("a", false, Some(Close::Panic)),
                ("b", false, Some(Close::Err)),
            ],
        )),
    );
    wait_bounded(&tasks).await;
    assert_eq!(closed.lock().unwrap().len(), 2);
    // The group itself ended `Ok`: the task reports nothing more.
    assert_eq!(
        reported(&recorder),
        ["error: b close failed", "panic: a close panicked"]
    );
}

// ---------------------------------------------------------------------------------------
// Handles and futures dropped early

#[tokio::test(start_paused = true)]
async fn dropping_every_tasks_handle_neither_cancels_nor_detaches_its_tasks() {
    let tasks = Tasks::new("dropped");
    let other = tasks.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let tx = Arc::clone(&tx);
            async move {
                let slept = sleep(&ctx, Duration::from_secs(5)).await;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(slept);
                }
                Ok(())
            }
        }),
    );
    drop(tasks);
    // The clone still sees it, and waits for it.
    assert_eq!(other.running(), 1);
    let start = Instant::now();
    wait_bounded(&other).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // With no handle left at all, the task still runs to its end, uncanceled.
    let tasks = Tasks::new("dropped");
    let (tx, rx2) = tokio::sync::oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let tx = Arc::clone(&tx);
            async move {
                let slept = sleep(&ctx, Duration::from_secs(5)).await;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(slept);
                }
                Ok(())
            }
        }),
    );
    drop(tasks);
    assert_eq!(rx.await, Ok(Ok(())));
    assert_eq!(timeout(LIMIT, rx2).await.expect("it ends"), Ok(Ok(())));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_done_future_loses_nothing() {
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(5));
    for _ in 0..3 {
        let mut done = tokio_test::task::spawn(ctx.done());
        tokio_test::assert_pending!(done.poll());
    }
    // The deadline is still noticed, by `err()` and by a new `done()`.
    advance(Duration::from_secs(5)).await;
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert!(ctx.done().now_or_never().is_some());

    let (ctx, cancel_too) = Context::background().with_cancel();
    let mut dropped = tokio_test::task::spawn(ctx.done());
    tokio_test::assert_pending!(dropped.poll());
    let mut kept = tokio_test::task::spawn(ctx.done());
    tokio_test::assert_pending!(kept.poll());
    drop(dropped);
    cancel_too.cancel();
    assert!(kept.is_woken());
    tokio_test::assert_ready!(kept.poll());
    drop(cancel);
}

/// A runner whose close takes 5 s, counting the closes begun and finished.
struct SlowCloser {
    begun: AtomicUsize,
    finished: AtomicUsize,
}

#[async_trait]
impl Runner for SlowCloser {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        Ok(())
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for SlowCloser {
    async fn close(&self, ctx: Context) -> Result<(), BoxError> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        sleep(&ctx, Duration::from_secs(5)).await?;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_run_close_drops_only_that_close_call() {
    let closer = SlowCloser {
        begun: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    };
    let ctx = Context::background();
    let cut_short = timeout(
        Duration::from_secs(1),
        async_tasks::run_close(&ctx, &closer),
    )
    .await;
    assert!(cut_short.is_err());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        (
            closer.begun.load(Ordering::SeqCst),
            closer.finished.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    // Nothing is left half-done: the next call closes from the start.
    async_tasks::run_close(&ctx, &closer).await.unwrap();
    assert_eq!(
        (
            closer.begun.load(Ordering::SeqCst),
            closer.finished.load(Ordering::SeqCst)
        ),
        (2, 1)
    );
}
