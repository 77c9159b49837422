//! Diagnostics, run only on request (`-- "loop cost"`): what each cost of a `run_loop`
//! iteration adds, one at a time, to the anchor of "loop iteration, INFO subscriber" (a
//! tracked loop with one `info_span!` per iteration, under an INFO subscriber). Each
//! figure's "ours" is that anchor plus one cost that `run_loop` pays per iteration; the
//! difference of the two sides' times is that cost. The last figure pays them all at once:
//! a hand-written `run_loop`, for what `run_loop` adds beyond their sum.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;

use async_tasks::{Context, Runner};
use futures_util::FutureExt;
use tracing::Instrument;
use tracing::field::Empty;

use crate::loops::{self, anchor_loop};
use crate::setup::{Trivial, current_thread, info_subscriber};
use crate::{Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    [
        Spec::counted(
            "(loop cost: the anchor against itself)",
            f64::NAN,
            "ns/iter",
            || with_anchor(anchor()),
        ),
        Spec::counted(
            "(loop cost: a span with the six fields of run_loop's)",
            f64::NAN,
            "ns/iter",
            span_fields,
        ),
        Spec::counted(
            "(loop cost: the four more span fields alone)",
            f64::NAN,
            "ns/iter",
            more_fields,
        ),
        Spec::counted(
            "(loop cost: the explicit parent alone)",
            f64::NAN,
            "ns/iter",
            explicit_parent,
        ),
        Spec::counted(
            "(loop cost: a Context clone)",
            f64::NAN,
            "ns/iter",
            context_clone,
        ),
        Spec::counted(
            "(loop cost: a boxed future)",
            f64::NAN,
            "ns/iter",
            boxed_future,
        ),
        Spec::counted(
            "(loop cost: a catch_unwind)",
            f64::NAN,
            "ns/iter",
            catch_unwind,
        ),
        Spec::counted(
            "(loop cost: an Instant::now())",
            f64::NAN,
            "ns/iter",
            clock_read,
        ),
        Spec::counted(
            "(loop cost: a thread-local swap)",
            f64::NAN,
            "ns/iter",
            thread_local_swap,
        ),
        Spec::counted(
            "(loop cost: tokio's coop budget)",
            f64::NAN,
            "ns/iter",
            coop_budget,
        ),
        Spec::counted(
            "(loop cost: the span entered per poll, not by Instrumented)",
            f64::NAN,
            "ns/iter",
            entered_per_poll,
        ),
        Spec::counted(
            "(loop cost: all of them, a hand-written run_loop)",
            f64::NAN,
            "ns/iter",
            hand_written,
        ),
    ]
    .into_iter()
    .map(Spec::on_request)
    .collect()
}

/// The anchor of "loop iteration, INFO subscriber", on a runtime of its own.
fn anchor() -> Side {
    loops::anchor(
        Arc::new(current_thread()),
        Some(info_subscriber()),
        loops::Anchor::NeverYields,
    )
}

/// The anchor's span.
fn plain_span() -> tracing::Span {
    tracing::info_span!("task", task.name = "bench", otel.name = "bench")
}

/// A variant against the anchor.
fn with_anchor(variant: Side) -> (Side, Side) {
    (variant, anchor())
}

/// A variant of the anchor with the INFO subscriber: `$setup` before the loop's spawn,
/// `$iteration` for each iteration.
macro_rules! variant {
    ({ $($setup:tt)* }, |$body:ident| $iteration:expr) => {
        with_anchor(anchor_loop!(
            Arc::new(current_thread()),
            Some(info_subscriber()),
            { $($setup)* },
            |$body| $iteration
        ))
    };
}

/// `run_loop`'s iteration span: the fields `task.name`, `otel.name`, `iteration`,
/// `attempt`, `otel.status_code`, `otel.status_description`, under an explicit parent (the
/// span current where the loop was started).
fn span_fields() -> (Side, Side) {
    variant!(
        {
            let parent = tracing::Span::current();
            let mut iteration = 0_u64;
        },
        |body| {
            iteration += 1;
            let span = tracing::info_span!(
                parent: &parent,
                "task",
                task.name = "bench",
                otel.name = "bench",
                iteration,
                attempt = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            );
            body.instrument(span).await;
        }
    )
}

/// [`span_fields`] without the explicit parent: the four fields the anchor's span lacks.
fn more_fields() -> (Side, Side) {
    variant!(
        {
            let mut iteration = 0_u64;
        },
        |body| {
            iteration += 1;
            let span = tracing::info_span!(
                "task",
                task.name = "bench",
                otel.name = "bench",
                iteration,
                attempt = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            );
            body.instrument(span).await;
        }
    )
}

/// [`span_fields`] without the four more fields: the anchor's span under the explicit
/// parent.
fn explicit_parent() -> (Side, Side) {
    variant!(
        {
            let parent = tracing::Span::current();
        },
        |body| {
            let span = tracing::info_span!(parent: &parent, "task", task.name = "bench", otel.name = "bench");
            body.instrument(span).await;
        }
    )
}

/// The run's context: a clone of a cancelable context, handed to the body and dropped
/// with it.
fn context_clone() -> (Side, Side) {
    variant!(
        {
            let (ctx, _cancel) = Context::background().with_cancel();
        },
        |body| {
            let ctx = ctx.clone();
            async move {
                black_box(&ctx);
                body.await;
            }
            .instrument(plain_span())
            .await;
        }
    )
}

/// The run's future boxed, as an `#[async_trait]` method returns it.
fn boxed_future() -> (Side, Side) {
    variant!({}, |body| {
        let body: Pin<Box<dyn Future<Output = ()> + Send + '_>> = Box::pin(body);
        body.instrument(plain_span()).await;
    })
}

/// The poll inside `catch_unwind`.
fn catch_unwind() -> (Side, Side) {
    variant!({}, |body| {
        let _ = AssertUnwindSafe(body)
            .catch_unwind()
            .instrument(plain_span())
            .await;
    })
}

/// One read of tokio's clock (what a start time or a metric's duration costs).
fn clock_read() -> (Side, Side) {
    variant!({}, |body| {
        black_box(tokio::time::Instant::now());
        body.instrument(plain_span()).await;
    })
}

thread_local! {
    /// Stands for `run_loop`'s mark of the set being polled.
    static CURRENT: Cell<Option<Arc<u64>>> = const { Cell::new(None) };
}

/// The thread marked while the body is polled: an `Arc` moved into a thread-local and
/// back out around the poll, as `run_loop` marks its set.
fn thread_local_swap() -> (Side, Side) {
    variant!(
        {
            let mut mark = Some(Arc::new(0_u64));
        },
        |body| {
            let mut body = pin!(body.instrument(plain_span()));
            poll_fn(|cx| {
                CURRENT.with(|current| current.set(mark.take()));
                let polled = body.as_mut().poll(cx);
                mark = CURRENT.with(|current| current.replace(None));
                polled
            })
            .await;
        }
    )
}

/// A yield whenever tokio's budget for the task is spent, so that the loop cannot starve
/// the runtime (the anchor never yields).
fn coop_budget() -> (Side, Side) {
    variant!({}, |body| {
        body.instrument(plain_span()).await;
        tokio::task::consume_budget().await;
    })
}

/// The span entered around each poll by hand, as `run_loop` does, rather than by
/// `Instrumented`, which also enters it to drop the future: a saving, not a cost.
fn entered_per_poll() -> (Side, Side) {
    variant!({}, |body| {
        let span = plain_span();
        let mut body = pin!(body);
        poll_fn(|cx| {
            let _entered = span.enter();
            body.as_mut().poll(cx)
        })
        .await;
    })
}

/// All of the above at once: a trivial `Runner` called through the trait (a boxed future)
/// with a clone of the loop's context, polled inside `catch_unwind` with its span entered and the
/// thread marked, in a span with `run_loop`'s six fields, then tokio's coop budget. What
/// `run_loop` adds beyond this is its own bookkeeping.
fn hand_written() -> (Side, Side) {
    variant!(
        {
            let parent = tracing::Span::current();
            let (ctx, _cancel) = Context::background().with_cancel();
            let mut mark = Some(Arc::new(0_u64));
            let mut iteration = 0_u64;
        },
        |body| {
            iteration += 1;
            let span = tracing::info_span!(
                parent: &parent,
                "task",
                task.name = "bench",
                otel.name = "bench",
                iteration,
                attempt = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            );
            let mut run = Some(Trivial.run(ctx.clone()));
            let mut body = pin!(body);
            let _ = poll_fn(|cx| {
                let _entered = span.enter();
                CURRENT.with(|current| current.set(mark.take()));
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let ran = run.as_mut().map(|fut| fut.as_mut().poll(cx));
                    if matches!(ran, Some(Poll::Ready(_))) {
                        run = None;
                    }
                    body.as_mut().poll(cx)
                }));
                mark = CURRENT.with(|current| current.replace(None));
                match polled {
                    Ok(polled) => polled.map(Ok),
                    Err(payload) => Poll::Ready(Err(payload)),
                }
            })
            .await;
            tokio::task::consume_budget().await;
        }
    )
}
