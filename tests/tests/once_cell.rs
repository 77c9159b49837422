//! `RetryableOnceCell`: lazy async initialisation that may fail and be retried.
//!
//! Covers:
//! - `Send + Sync`, a `const` constructor usable in a `static`, a `Send` future, `Debug`
//!   with the state;
//! - single flight: concurrent callers (tasks released together) run the init once, all
//!   get its value, at the moment it is ready (paused clock); later calls never run `f`;
//! - retry after a failure: a failed attempt leaves the cell empty and its error goes to its
//!   caller only; a caller that waited for it makes its own attempt; a panicking attempt
//!   propagates, and the next call retries;
//! - ctx-aware waiting: a caller waiting for another's attempt returns `Canceled` when its
//!   ctx is canceled (woken, manual polling) and `DeadlineExceeded` at its deadline, while
//!   the attempt in flight goes on; a done ctx with an empty cell fails without calling
//!   `f`, with a full one returns the value; the own attempt gets the ctx and is not cut
//!   short by the call;
//! - a dropped call drops its attempt, and the next waiter tries;
//! - one "init" span per attempt, a child of the caller's span, with `once`, `attempt` and
//!   `otel.name`; the error (or panic) and the status recorded on a failed one, nothing on
//!   a successful one or a canceled one; no span for waiters and hits.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::sync::RetryableOnceCell;
use async_tasks::testing::{SpanRecorder, Status};
use async_tasks::{BoxError, Context, sleep};
use futures_util::FutureExt;
use tokio::sync::Barrier;
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};
use tracing::{Instrument, Level};

const LIMIT: Duration = Duration::from_secs(3600);

/// An init that counts its calls, takes `secs` of paused time, then returns `result`.
fn init(
    calls: &Arc<AtomicUsize>,
    secs: u64,
    result: Result<u32, &'static str>,
) -> impl FnOnce(Context) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>> + use<>
{
    let calls = Arc::clone(calls);
    move |ctx| {
        calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            sleep(&ctx, Duration::from_secs(secs)).await?;
            result.map_err(BoxError::from)
        })
    }
}

fn ctx_error(err: &BoxError) -> Option<ContextError> {
    err.downcast_ref::<ContextError>().copied()
}

#[test]
fn a_cell_can_be_shared_and_made_in_a_const() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<RetryableOnceCell<Vec<u8>>>();

    static CELL: RetryableOnceCell<u32> = RetryableOnceCell::new("static");
    assert_eq!(CELL.name(), "static");
    assert!(CELL.get().is_none());
    assert_eq!(
        format!("{CELL:?}"),
        "RetryableOnceCell { name: \"static\", initialized: false, attempts: 0 }"
    );
    let ctx = Context::background();
    let call = CELL.get_or_try_init(&ctx, init(&Arc::default(), 0, Ok(1)));
    send(&call);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_attempt() {
    const CALLERS: usize = 8;
    let cell = Arc::new(RetryableOnceCell::new("shared"));
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(CALLERS));
    let start = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cell, calls, barrier) =
                (Arc::clone(&cell), Arc::clone(&calls), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let value = *cell
                    .get_or_try_init(&Context::background(), init(&calls, 1, Ok(7)))
                    .await
                    .unwrap();
                (value, start.elapsed())
            })
        })
        .collect();
    for caller in callers {
        let (value, at) = timeout(LIMIT, caller)
            .await
            .expect("a caller hangs")
            .unwrap();
        assert_eq!(value, 7);
        assert_eq!(
            at,
            Duration::from_secs(1),
            "every caller gets the value when it is ready"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the init ran more than once"
    );
    assert_eq!(cell.get(), Some(&7));

    // Later calls find the value and never call `f`.
    let never = |_ctx: Context| async { panic!("called again") };
    let value = cell.get_or_try_init(&Context::background(), never).await;
    assert_eq!(value.map_err(|e: BoxError| e.to_string()), Ok(&7));
    assert!(format!("{cell:?}").contains("initialized: true, attempts: 1"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_leaves_the_cell_empty_and_the_next_call_retries() {
    let cell = RetryableOnceCell::new("flaky");
    let calls = Arc::new(AtomicUsize::new(0));
    let ctx = Context::background();

    let err = cell
        .get_or_try_init(&ctx, init(&calls, 0, Err("connection refused")))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connection refused");
    assert!(cell.get().is_none());

    let value = cell
        .get_or_try_init(&ctx, init(&calls, 0, Ok(3)))
        .await
        .unwrap();
    assert_eq!(*value, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_waited_for_a_failed_attempt_makes_its_own() {
    let cell = RetryableOnceCell::new("flaky");
    let (first_calls, second_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let ctx = Context::background();
    let start = Instant::now();
    let (first, second) = tokio::join!(
        cell.get_or_try_init(&ctx, init(&first_calls, 1, Err("refused"))),
        async {
            let value = cell
                .get_or_try_init(&ctx, init(&second_calls, 1, Ok(9)))
                .await;
            (value.copied(), start.elapsed())
        },
    );
    // The failure went to its own caller only...
    assert_eq!(first.unwrap_err().to_string(), "refused");
    // ...and the waiter tried after it, with its own `f`.
    let (value, at) = second;
    assert_eq!(value.unwrap(), 9);
    assert_eq!(at, Duration::from_secs(2));
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_propagates_and_the_next_call_retries() {
    let cell = RetryableOnceCell::<u32>::new("panicky");
    let ctx = Context::background();
    let panicked = AssertUnwindSafe(cell.get_or_try_init(&ctx, |_ctx| async {
        if true {
            panic!("bad config");
        }
        Ok::<u32, BoxError>(0)
    }))
    .catch_unwind()
    .await;
    let payload = panicked.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"bad config"));
    assert!(cell.get().is_none());

    let value = timeout(
        LIMIT,
        cell.get_or_try_init(&ctx, |_ctx| async { Ok::<_, BoxError>(5) }),
    )
    .await
    .expect("the permit was not given back");
    assert_eq!(*value.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_when_its_ctx_is_canceled_and_the_attempt_goes_on() {
    let cell = RetryableOnceCell::new("slow");
    let calls = Arc::new(AtomicUsize::new(0));
    let background = Context::background();
    let mut attempt = task::spawn(cell.get_or_try_init(&background, init(&calls, 10, Ok(1))));
    assert_pending!(attempt.poll());

    let (ctx, cancel) = Context::background().with_cancel();
    let waiter_calls = Arc::new(AtomicUsize::new(0));
    let mut waiter = task::spawn(cell.get_or_try_init(&ctx, init(&waiter_calls, 0, Ok(2))));
    assert_pending!(waiter.poll());
    assert_pending!(waiter.poll());
    cancel.cancel();
    assert!(waiter.is_woken(), "canceling must wake the waiter");
    let err = assert_ready!(waiter.poll()).unwrap_err();
    assert_eq!(ctx_error(&err), Some(ContextError::Canceled));
    drop(waiter);

    // The attempt in flight was not disturbed.
    let value = timeout(LIMIT, attempt)
        .await
        .expect("the attempt hangs")
        .unwrap();
    assert_eq!(*value, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(waiter_calls.load(Ordering::SeqCst), 0);
}

/// Regression (reliability round 2): a waiter whose context was canceled while the attempt
/// in flight failed took the permit when it was next polled, and called its own `f` with a
/// done context.
#[tokio::test(start_paused = true)]
async fn a_waiter_canceled_while_the_attempt_fails_does_not_call_its_own() {
    let cell = RetryableOnceCell::<u32>::new("flaky");
    let (fail, failed) = tokio::sync::oneshot::channel::<()>();
    let background = Context::background();
    let mut attempt = task::spawn(cell.get_or_try_init(&background, |_ctx| async move {
        let _ = failed.await;
        Err::<u32, BoxError>("refused".into())
    }));
    assert_pending!(attempt.poll());

    let (ctx, cancel) = Context::background().with_cancel();
    let waiter_calls = Arc::new(AtomicUsize::new(0));
    let mut waiter = task::spawn(cell.get_or_try_init(&ctx, init(&waiter_calls, 0, Ok(2))));
    assert_pending!(waiter.poll());

    // The attempt fails, which hands the permit to the waiter; its context ends before it
    // is polled again.
    fail.send(()).unwrap();
    let err = assert_ready!(attempt.poll()).unwrap_err();
    assert_eq!(err.to_string(), "refused");
    cancel.cancel();
    let err = assert_ready!(waiter.poll()).unwrap_err();
    assert_eq!(ctx_error(&err), Some(ContextError::Canceled));
    assert_eq!(
        waiter_calls.load(Ordering::SeqCst),
        0,
        "a waiter whose context ended does not act"
    );
    drop(waiter);
    // The permit went on: the next caller makes an attempt.
    let value = timeout(
        LIMIT,
        cell.get_or_try_init(&background, init(&waiter_calls, 0, Ok(3))),
    )
    .await
    .expect("the permit was given back");
    assert_eq!(*value.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_at_its_deadline() {
    let cell = RetryableOnceCell::new("slow");
    let calls = Arc::new(AtomicUsize::new(0));
    let background = Context::background();
    let start = Instant::now();
    let (deadline, _cancel) = background.with_timeout(Duration::from_secs(2));
    let (first, second) = tokio::join!(
        cell.get_or_try_init(&background, init(&calls, 10, Ok(1))),
        async {
            let result = cell
                .get_or_try_init(&deadline, init(&calls, 0, Ok(2)))
                .await;
            (result.copied(), start.elapsed())
        },
    );
    let (second, gave_up_at) = second;
    assert_eq!(
        ctx_error(&second.unwrap_err()),
        Some(ContextError::DeadlineExceeded)
    );
    assert_eq!(gave_up_at, Duration::from_secs(2));
    assert_eq!(*first.unwrap(), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_done_ctx_fails_on_an_empty_cell_and_still_reads_a_full_one() {
    let cell = RetryableOnceCell::new("cell");
    let calls = Arc::new(AtomicUsize::new(0));
    let (done, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let err = cell
        .get_or_try_init(&done, init(&calls, 0, Ok(1)))
        .await
        .unwrap_err();
    assert_eq!(ctx_error(&err), Some(ContextError::Canceled));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "`f` is not called with a done ctx"
    );

    cell.get_or_try_init(&Context::background(), init(&calls, 0, Ok(1)))
        .await
        .unwrap();
    let value = cell
        .get_or_try_init(&done, init(&calls, 0, Ok(2)))
        .await
        .unwrap();
    assert_eq!(*value, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_own_attempt_gets_the_ctx_and_is_not_cut_short() {
    let cell = RetryableOnceCell::<u32>::new("cell");
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
    let cleaned_up = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let result = cell
        .get_or_try_init(&ctx, |ctx| {
            let cleaned_up = Arc::clone(&cleaned_up);
            async move {
                ctx.done().await;
                // Cleanup after the context ended still runs: the call did not drop us.
                tokio::time::sleep(Duration::from_secs(1)).await;
                cleaned_up.fetch_add(1, Ordering::SeqCst);
                Err::<u32, BoxError>(ctx.err().unwrap().into())
            }
        })
        .await;
    drop(cancel);
    assert_eq!(
        ctx_error(&result.unwrap_err()),
        Some(ContextError::DeadlineExceeded)
    );
    assert_eq!(cleaned_up.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_drops_its_attempt_and_the_next_waiter_tries() {
    let cell = RetryableOnceCell::new("cell");
    let (first_calls, second_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let ctx = Context::background();
    let mut first = task::spawn(cell.get_or_try_init(&ctx, init(&first_calls, 10, Ok(1))));
    assert_pending!(first.poll());
    let mut second = task::spawn(cell.get_or_try_init(&ctx, init(&second_calls, 0, Ok(2))));
    assert_pending!(second.poll());
    drop(first);
    assert!(second.is_woken(), "the permit went to the waiter");
    let value = assert_ready!(second.poll()).unwrap();
    assert_eq!(*value, 2);
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_one_span_with_its_failure_recorded() {
    let recorder = SpanRecorder::install();
    let cell = RetryableOnceCell::new("db-pool");
    let calls = Arc::new(AtomicUsize::new(0));
    let ctx = Context::background();
    let request = tracing::info_span!("request");
    async {
        let (failed, waited) = tokio::join!(
            cell.get_or_try_init(&ctx, init(&calls, 1, Err("connection refused"))),
            // Waits for the failed attempt, then makes the second one.
            cell.get_or_try_init(&ctx, init(&calls, 1, Ok(1))),
        );
        assert!(failed.is_err() && waited.is_ok());
        // A hit: no span.
        cell.get_or_try_init(&ctx, init(&calls, 1, Ok(2)))
            .await
            .unwrap();
    }
    .instrument(request.clone())
    .await;
    drop(request);

    let spans = recorder.spans_named("init");
    assert_eq!(spans.len(), 2, "{}", recorder.tree());
    let request_id = recorder.span("request").id();
    for (i, span) in spans.iter().enumerate() {
        assert_eq!(span.level(), Level::INFO);
        assert_eq!(span.field("once"), Some("db-pool"));
        assert_eq!(span.field("attempt"), Some((i + 1).to_string().as_str()));
        assert_eq!(span.field("otel.name"), Some("init db-pool"));
        assert_eq!(span.parent().map(|p| p.id()), Some(request_id));
        assert!(span.is_closed());
        assert_eq!(span.enter_count(), span.exit_count());
    }
    assert_eq!(spans[0].field("error"), Some("connection refused"));
    assert_eq!(
        spans[0].status(),
        Status::Error("connection refused".into())
    );
    assert_eq!(spans[1].field("error"), None);
    assert_eq!(spans[1].status(), Status::Unset);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_recorded_and_a_canceled_attempt_is_not_a_failure() {
    let recorder = SpanRecorder::install();
    let cell = RetryableOnceCell::<u32>::new("cfg");

    let ctx = Context::background();
    let panicked = AssertUnwindSafe(cell.get_or_try_init(&ctx, |_ctx| async {
        if true {
            panic!("bad config");
        }
        Ok::<u32, BoxError>(0)
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());

    let (ctx, cancel) = Context::background().with_cancel();
    let canceled = cell
        .get_or_try_init(&ctx, |ctx| async move {
            cancel.cancel();
            Err::<u32, BoxError>(ctx.err().unwrap().into())
        })
        .await;
    assert!(canceled.is_err());

    let spans = recorder.spans_named("init");
    assert_eq!(spans.len(), 2, "{}", recorder.tree());
    assert_eq!(spans[0].field("panic"), Some("bad config"));
    assert_eq!(spans[0].status(), Status::Error("bad config".into()));
    assert_eq!(spans[1].field("error"), None, "{}", recorder.tree());
    assert_eq!(spans[1].status(), Status::Unset);
}
