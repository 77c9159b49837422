//! How the end of a run is judged and reported: the one place that decides which outcomes
//! are errors, and that turns them into tracing events and span status.
//!
//! Policy (shared by `Tasks` and `run_group`):
//! - `Ok(())`, [`StopLoop`] and errors that are, or are caused by,
//!   [`ContextError::Canceled`] are quiet;
//! - any other error is one ERROR event with an `error` field (its `Display`), or one WARN
//!   event, or nothing, as the `Tasks`' [`ErrorClass`] of it says;
//! - a panic is one ERROR event with a `panic` field (its message);
//! - an error of class `Error` and a panic also mark the current span `otel.status_code = "ERROR"` with the message
//!   in `otel.status_description` (the field tracing-opentelemetry turns into the status
//!   description), so OpenTelemetry exports the run as failed, with its message.

use std::any::Any;
use std::error::Error;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::FutureExt;

use crate::classify::{ErrorClass, classify};
use crate::tasks::Polling;
use crate::{BoxError, Context, ContextError, Runner, StopLoop};

/// The span fields in which a failure is recorded, declared `Empty` by every span that can
/// record one (a task's, a call's, a once cell's attempt). Named here once: spans use tracing's
/// `{ CONST }` field syntax, and `#[async_task]` names them through `__private::fields`.
pub(crate) mod fields {
    /// The error's `Display`.
    pub const ERROR: &str = "error";
    /// A panic's message.
    pub const PANIC: &str = "panic";
    /// `"ERROR"` on a failed span: what `tracing-opentelemetry` exports as the span status.
    pub const STATUS_CODE: &str = "otel.status_code";
    /// The message of a failed span's status.
    pub const STATUS_DESCRIPTION: &str = "otel.status_description";
}

/// How one run ended.
pub(crate) enum Outcome {
    /// Returned `Ok(())`.
    Finished,
    /// Returned [`StopLoop`] (anywhere in its `source()` chain): done, and no more.
    Stopped,
    /// Returned an error that is, or wraps, [`ContextError::Canceled`].
    Canceled(BoxError),
    /// Returned any other error.
    Failed(BoxError),
    /// Panicked; the payload is kept so that it can be resumed.
    Panicked(Box<dyn Any + Send>),
}

impl From<Result<(), BoxError>> for Outcome {
    #[inline]
    fn from(result: Result<(), BoxError>) -> Self {
        match result {
            Ok(()) => Outcome::Finished,
            Err(err) if is_stop(&*err) => Outcome::Stopped,
            Err(err) if is_canceled(&*err) => Outcome::Canceled(err),
            Err(err) => Outcome::Failed(err),
        }
    }
}

/// Runs `fut` to completion, catching a panic instead of letting it unwind.
///
/// A combinator rather than an `async fn`, so that `fut` is stored once, not twice.
pub(crate) fn catch<F>(fut: F) -> impl Future<Output = Outcome>
where
    F: Future<Output = Result<(), BoxError>>,
{
    AssertUnwindSafe(fut)
        .catch_unwind()
        .map(|result| result.map_or_else(Outcome::Panicked, Outcome::from))
}

/// The boxed future of one [`Runner::run`].
pub(crate) type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// What one run needs besides its runner: the context to hand it, the span to run it in,
/// and the id of the `Tasks` it belongs to. Owned by the task; [`Supervised`] borrows it.
pub(crate) struct Run {
    /// Taken by the first poll, which calls `run` (left as the background context, which
    /// costs nothing: an `Option<Context>` would be twice the size).
    ctx: Context,
    span: tracing::Span,
    /// Marked on the thread while polling, for `Tasks::wait`'s self-wait check.
    tasks_id: u32,
}

impl Run {
    pub(crate) fn new(ctx: Context, span: tracing::Span, tasks_id: u32) -> Self {
        Run {
            ctx,
            span,
            tasks_id,
        }
    }

    /// Reports, in this run's span, that its loop gives up after `failures` in a row.
    pub(crate) fn give_up(&self, failures: u32) {
        self.span.in_scope(|| {
            tracing::error!(failures, "loop gave up after {failures} failures in a row");
        });
    }
}

/// One run of a task: calls the runner and polls its future inside the task's span,
/// catches a panic (also one raised by `run` itself, before it returns a future), and
/// reports the outcome in the span before returning it.
///
/// The same as `span.in_scope(|| catch(runner.run(ctx))).instrument(span)` followed by
/// `span.in_scope(|| report(..))`, in one layer: this is polled once per loop iteration, so
/// every layer counts. It borrows its [`Run`] rather than owning it: a value moved into a
/// future from one of the task's captures keeps its slot there too, and every spawned
/// future is copied whole on spawn, so each copy avoided counts.
pub(crate) struct Supervised<'a, R: ?Sized> {
    runner: &'a R,
    run: &'a mut Run,
    fut: Option<RunFuture<'a>>,
}

impl<'a, R: Runner + ?Sized> Supervised<'a, R> {
    pub(crate) fn new(runner: &'a R, run: &'a mut Run) -> Self {
        Supervised {
            runner,
            run,
            fut: None,
        }
    }
}

impl<R: Runner + ?Sized> Future for Supervised<'_, R> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Outcome> {
        // `Supervised` is `Unpin`: its future is already boxed.
        let this = &mut *self;
        let run = &mut *this.run;
        let _entered = run.span.enter();
        let _polling = Polling::enter(run.tasks_id);
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            let (runner, ctx) = (this.runner, &mut run.ctx);
            let fut = this
                .fut
                .get_or_insert_with(|| runner.run(std::mem::take(ctx)));
            fut.as_mut().poll(cx)
        }));
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => Outcome::from(result),
            Err(payload) => Outcome::Panicked(payload),
        };
        report(&outcome, run.tasks_id, &run.span);
        Poll::Ready(outcome)
    }
}

/// Whether `err`, or any error in its `source()` chain, is [`StopLoop`].
fn is_stop(err: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(err), |&err| err.source()).any(|err| err.is::<StopLoop>())
}

/// Whether `err`, or any error in its `source()` chain, is [`ContextError::Canceled`].
pub(crate) fn is_canceled(err: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(err), |&err| err.source())
        .any(|err| err.downcast_ref::<ContextError>() == Some(&ContextError::Canceled))
}

/// The message a panic was raised with, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "Box<dyn Any>"
    }
}

/// Reports `outcome` in `span` (the run's, entered), as the module docs describe.
#[inline]
pub(crate) fn report(outcome: &Outcome, tasks_id: u32, span: &tracing::Span) {
    match outcome {
        Outcome::Finished | Outcome::Stopped | Outcome::Canceled(_) => {}
        Outcome::Failed(err) => match classify(tasks_id, &**err) {
            ErrorClass::Error => {
                tracing::error!(error = %err, "task failed");
                mark_span_failed(span, &err.to_string());
            }
            ErrorClass::Warn => tracing::warn!(error = %err, "task failed"),
            ErrorClass::Ignore => {}
        },
        Outcome::Panicked(payload) => {
            let message = panic_message(&**payload);
            tracing::error!(panic = message, "task panicked");
            mark_span_failed(span, message);
        }
    }
}

/// Marks `span` failed with `message`, in the fields OpenTelemetry reads. The code first:
/// `tracing-opentelemetry` replaces the status on each of these writes, and only the
/// description's carries the message. The span must declare both fields.
pub(crate) fn mark_span_failed(span: &tracing::Span, message: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", message);
}

/// Records a panic on `span` (a `panic` field with its message) and marks the span failed.
pub(crate) fn record_panic(span: &tracing::Span, payload: &(dyn Any + Send)) {
    let message = panic_message(payload);
    span.record("panic", message);
    mark_span_failed(span, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(ContextError);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "wrapped: {}", self.0)
        }
    }

    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn canceled_is_found_anywhere_in_the_source_chain() {
        assert!(is_canceled(&ContextError::Canceled));
        assert!(is_canceled(&Wrapped(ContextError::Canceled)));
        assert!(!is_canceled(&Wrapped(ContextError::DeadlineExceeded)));
        assert!(!is_canceled(&*BoxError::from("context canceled")));
    }

    #[test]
    fn panic_messages_of_both_payload_kinds() {
        let text: Box<dyn Any + Send> = Box::new("static");
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        let other: Box<dyn Any + Send> = Box::new(7_u8);
        assert_eq!(panic_message(&*text), "static");
        assert_eq!(panic_message(&*owned), "owned");
        assert_eq!(panic_message(&*other), "Box<dyn Any>");
    }

    #[tokio::test]
    async fn catch_sorts_every_outcome() {
        assert!(matches!(catch(async { Ok(()) }).await, Outcome::Finished));
        let canceled = catch(async { Err(ContextError::Canceled.into()) }).await;
        assert!(matches!(canceled, Outcome::Canceled(_)));
        let deadline = catch(async { Err(ContextError::DeadlineExceeded.into()) }).await;
        assert!(matches!(deadline, Outcome::Failed(_)));
        let panicked = catch(async { panic!("boom") }).await;
        match panicked {
            Outcome::Panicked(payload) => assert_eq!(panic_message(&*payload), "boom"),
            _ => panic!("expected a panic"),
        }
    }
}
