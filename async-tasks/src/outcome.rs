//! How a run ended, and the vocabulary every part of the crate judges it with: which
//! outcomes are failures, how a panic's message reads, and the span fields a failure is
//! recorded in. Shared by sets, pools, groups, metrics and traced calls; it knows nothing of
//! any of them.
//!
//! The policy, in one place:
//! - `Ok`, [`StopLoop`] and errors that are, or are caused by, [`ContextError::Canceled`]
//!   are not failures;
//! - any other error is a failure, and so is a panic;
//! - a failure is recorded on a span as `error` (or `panic`), `otel.status_code = "ERROR"`
//!   and `otel.status_description`, the fields tracing-opentelemetry turns into the span's
//!   status.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};

use futures_util::FutureExt;

use crate::context::ContextError;
use crate::fields;
use crate::runner::BoxError;
use crate::task::StopLoop;

/// How one run ended, with what it ended with.
pub(crate) enum Outcome<T = ()> {
    /// Returned `Ok`.
    Finished(T),
    /// Returned [`StopLoop`] (anywhere in its `source()` chain): done, and no more.
    Stopped(BoxError),
    /// Returned an error that is, or wraps, [`ContextError::Canceled`].
    Canceled(BoxError),
    /// Returned any other error.
    Failed(BoxError),
    /// Panicked; the payload is kept so that it can be resumed.
    Panicked(Box<dyn Any + Send>),
}

/// The `outcome` labels of the run and call metrics, one per way a run or call ends.
pub(crate) mod labels {
    /// Returned `Ok`, or [`StopLoop`](crate::task::StopLoop).
    pub(crate) const OK: &str = "ok";
    /// Returned a failure.
    pub(crate) const ERROR: &str = "error";
    /// Panicked.
    pub(crate) const PANIC: &str = "panic";
    /// Returned a cancellation.
    pub(crate) const CANCELED: &str = "canceled";
    /// Dropped before it ended (a run only).
    pub(crate) const ABORTED: &str = "aborted";
}

/// What an error returned by a run (or a call) says about how it ended: the one judgement
/// behind a run's [`Outcome`], what a traced call records on its span, and the metrics'
/// `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// [`StopLoop`], anywhere in its `source()` chain: done, and no more. Not a failure.
    Stopped,
    /// [`ContextError::Canceled`], anywhere in its chain. Not a failure.
    Canceled,
    /// Any other error: a failure.
    Failed,
}

impl Verdict {
    /// Judges `err` (panic-safe: see [`is_marker`]).
    #[inline]
    pub(crate) fn of(err: &(dyn Error + 'static)) -> Verdict {
        if is_stop(err) {
            Verdict::Stopped
        } else if is_canceled(err) {
            Verdict::Canceled
        } else {
            Verdict::Failed
        }
    }

    /// The `outcome` label of a run or call that returned such an error.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::Stopped => labels::OK,
            Verdict::Canceled => labels::CANCELED,
            Verdict::Failed => labels::ERROR,
        }
    }
}

impl<T> From<Result<T, BoxError>> for Outcome<T> {
    #[inline]
    fn from(result: Result<T, BoxError>) -> Self {
        match result {
            Ok(value) => Outcome::Finished(value),
            Err(err) => match Verdict::of(&*err) {
                Verdict::Stopped => Outcome::Stopped(err),
                Verdict::Canceled => Outcome::Canceled(err),
                Verdict::Failed => Outcome::Failed(err),
            },
        }
    }
}

impl<T> Outcome<T> {
    /// The `outcome` label of the run metrics: `ok`, `error`, `panic` or `canceled`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::Finished(_) => labels::OK,
            Outcome::Stopped(_) => Verdict::Stopped.label(),
            Outcome::Canceled(_) => Verdict::Canceled.label(),
            Outcome::Failed(_) => Verdict::Failed.label(),
            Outcome::Panicked(_) => labels::PANIC,
        }
    }

    /// How it ended, without what it ended with: what a shutdown report keeps.
    pub(crate) fn ended(&self) -> Ended {
        match self {
            Outcome::Finished(_) | Outcome::Stopped(_) => Ended::Finished,
            Outcome::Canceled(_) => Ended::Canceled,
            Outcome::Failed(err) => Ended::Failed(message(&**err)),
            Outcome::Panicked(payload) => Ended::Panicked(panic_message(&**payload).to_owned()),
        }
    }
}

/// How a run ended, as a report names it: its outcome's messages, or that it never ended by
/// itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Finished, or stopped its loop.
    Finished,
    /// Ended by its cancellation: returned the context's error.
    Canceled,
    /// Failed with this error message.
    Failed(String),
    /// Panicked with this message.
    Panicked(String),
    /// Dropped before it ended: aborted, or its runtime went away.
    Aborted,
}

/// Calls `start` and runs the future it returns to completion, catching a panic in either
/// instead of letting it unwind: the synchronous part of a user's code (a closure's body
/// before its `async` block) is guarded as much as the future.
///
/// A combinator rather than an `async fn`, so that the future is stored once, not twice.
pub(crate) fn catch<S, F, T>(start: S) -> impl Future<Output = Outcome<T>>
where
    S: FnOnce() -> F,
    F: Future<Output = Result<T, BoxError>>,
{
    AssertUnwindSafe(async move { start().await })
        .catch_unwind()
        .map(|result| result.map_or_else(Outcome::Panicked, Outcome::from))
}

/// Calls `f`, catching a panic: for the user's code called synchronously (a classifier, a
/// backoff), whose panic must not unwind through the crate's bookkeeping.
pub(crate) fn catch_sync<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// How far along a `source()` chain the checks below look: an error whose chain loops back on
/// itself (a bug, but the user's) must not hang a task's report.
const CHAIN: usize = 256;

/// `err` and its `source()` chain, at most [`CHAIN`] long.
fn chain<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&err| err.source()).take(CHAIN)
}

/// Whether `err` is, or is caused by, an error of type `E` equal to `marker`, whose message
/// is `text`.
///
/// Either some link of the chain downcasts to it, or the innermost link *displays* as it: a
/// wrapper that forwards `source()` to its inner error's (anyhow's `Error` once boxed, a
/// `#[error(transparent)]` variant) hides the inner error's type, never its message, and what
/// it hides is always the innermost link. A user's error that prints exactly like one of the
/// crate's markers is taken for it.
///
/// Panic-safe: a `source()` or `Display` that panics (the user's code, judged where a panic
/// must not unwind, e.g. between a group's members and their closing) matches nothing.
fn is_marker<E>(err: &(dyn Error + 'static), marker: &E, text: &str) -> bool
where
    E: Error + PartialEq + 'static,
{
    catch_sync(|| {
        let mut innermost = err;
        for link in chain(err) {
            if link.downcast_ref::<E>() == Some(marker) {
                return true;
            }
            innermost = link;
        }
        displays_as(innermost, text)
    })
    .unwrap_or(false)
}

/// Whether `err`'s `Display` writes exactly `text`, compared piece by piece without
/// allocating.
fn displays_as(err: &dyn Error, text: &str) -> bool {
    /// Consumes `rest` as long as what is written matches it.
    struct Expect<'a>(&'a str);

    impl fmt::Write for Expect<'_> {
        fn write_str(&mut self, piece: &str) -> fmt::Result {
            self.0 = self.0.strip_prefix(piece).ok_or(fmt::Error)?;
            Ok(())
        }
    }

    let mut expect = Expect(text);
    fmt::write(&mut expect, format_args!("{err}")).is_ok() && expect.0.is_empty()
}

/// Whether `err` is, or is caused by, [`StopLoop`] (see [`is_marker`]).
fn is_stop(err: &(dyn Error + 'static)) -> bool {
    is_marker(err, &StopLoop, StopLoop::TEXT)
}

/// Whether `err` is, or is caused by, [`ContextError::Canceled`] (see [`is_marker`]).
pub(crate) fn is_canceled(err: &(dyn Error + 'static)) -> bool {
    is_marker(err, &ContextError::Canceled, ContextError::Canceled.text())
}

/// `err` as a report prints it: its `Display`, then the `Display` of each error of its
/// `source()` chain that the message does not already contain, joined by `": "` (what
/// anyhow's `{:#}` prints, and what a wrapper that writes its source into its own message
/// does not repeat). Made where a panic in the user's `Display` must not unwind (a task's
/// report): a panic there gives a placeholder instead.
pub(crate) fn message(err: &(dyn Error + 'static)) -> String {
    catch_sync(|| {
        let mut message = err.to_string();
        for link in chain(err).skip(1) {
            let text = link.to_string();
            if !message.contains(&text) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&text);
            }
        }
        message
    })
    .unwrap_or_else(|payload| {
        format!(
            "<its Display or source() panicked: {}>",
            panic_message(&*payload)
        )
    })
}

/// `value`'s `Display`, or a placeholder if it panics: for what can only be displayed (a
/// once cell's error).
pub(crate) fn display(value: &dyn fmt::Display) -> String {
    catch_sync(|| value.to_string())
        .unwrap_or_else(|payload| format!("<its Display panicked: {}>", panic_message(&*payload)))
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

/// Marks `span` failed with `message`, in the fields OpenTelemetry reads. The code first:
/// `tracing-opentelemetry` replaces the status on each of these writes, and only the
/// description's carries the message. The span must declare both fields.
pub(crate) fn mark_span_failed(span: &tracing::Span, message: &str) {
    span.record(fields::STATUS_CODE, "ERROR");
    span.record(fields::STATUS_DESCRIPTION, message);
}

/// Records an error on `span` (its `error` field), and marks the span failed when `fail`.
pub(crate) fn record_error(span: &tracing::Span, message: &str, fail: bool) {
    span.record(fields::ERROR, message);
    if fail {
        mark_span_failed(span, message);
    }
}

/// Records a panic on `span` (a `panic` field with its message) and marks the span failed.
pub(crate) fn record_panic(span: &tracing::Span, payload: &(dyn Any + Send)) {
    let message = panic_message(payload);
    span.record(fields::PANIC, message);
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
        assert!(!is_canceled(&*BoxError::from("context canceled, and more")));
    }

    /// A wrapper that forwards both `Display` and `source()` to its inner error's, as
    /// anyhow's `Error` does once boxed: the inner error's type is hidden, its message is not.
    #[derive(Debug)]
    struct Transparent(Box<dyn Error + Send + Sync>);

    impl std::fmt::Display for Transparent {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    impl Error for Transparent {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.0.source()
        }
    }

    #[test]
    fn a_marker_hidden_by_a_transparent_wrapper_is_known_by_its_message() {
        let canceled = Transparent(ContextError::Canceled.into());
        assert!(is_canceled(&canceled));
        assert!(is_canceled(&Wrapped(ContextError::Canceled)));
        assert!(is_stop(&Transparent(StopLoop.into())));
        assert!(!is_canceled(&Transparent(
            ContextError::DeadlineExceeded.into()
        )));
        // Only the innermost link is judged by its message: an outer one reads as its own.
        let outer = Wrapped(ContextError::DeadlineExceeded);
        assert!(!is_canceled(&Transparent(Box::new(outer))));
        assert!(!is_stop(&Transparent("loop stopped".into())));
    }

    #[test]
    fn a_message_reads_down_the_chain_without_repeating_what_a_link_already_says() {
        assert_eq!(
            message(&Wrapped(ContextError::Canceled)),
            "wrapped: context canceled"
        );

        #[derive(Debug)]
        struct Context(&'static str, Box<dyn Error + Send + Sync>);
        impl std::fmt::Display for Context {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Context {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&*self.1)
            }
        }
        let inner = Context("connecting to db", "connection refused".into());
        let outer = Context("fetching page 3", Box::new(inner));
        assert_eq!(
            message(&outer),
            "fetching page 3: connecting to db: connection refused"
        );
        let empty = Context("", "underneath".into());
        assert_eq!(message(&empty), "underneath");
    }

    /// An error that is its own source, as a buggy `Error` impl may be.
    #[derive(Debug)]
    struct Loops;

    impl std::fmt::Display for Loops {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("a Display that panics")
        }
    }

    impl Error for Loops {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self)
        }
    }

    /// An error whose `source()` panics.
    #[derive(Debug)]
    struct BadSource;

    impl std::fmt::Display for BadSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bad source")
        }
    }

    impl Error for BadSource {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            panic!("a source() that panics")
        }
    }

    #[tokio::test]
    async fn a_source_that_panics_is_judged_a_failure_without_unwinding() {
        assert!(!is_canceled(&BadSource));
        assert!(!is_stop(&BadSource));
        let outcome = catch(|| async { Err::<(), _>(BoxError::from(BadSource)) }).await;
        assert_eq!(outcome.label(), "error");
        assert!(matches!(outcome.ended(), Ended::Failed(m) if m.contains("panicked")));
    }

    #[test]
    fn a_chain_that_loops_and_a_display_that_panics_do_not_take_a_report_down() {
        assert!(!is_canceled(&Loops));
        assert!(!is_stop(&Loops));
        assert_eq!(
            message(&Loops),
            "<its Display or source() panicked: a Display that panics>"
        );
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
    async fn catch_sorts_every_outcome_and_guards_the_synchronous_start() {
        let ok = catch(|| async { Ok::<_, BoxError>(7) }).await;
        assert!(matches!(ok, Outcome::Finished(7)));
        let canceled = catch(|| async { Err::<(), _>(ContextError::Canceled.into()) }).await;
        assert_eq!(canceled.label(), "canceled");
        let deadline =
            catch(|| async { Err::<(), _>(ContextError::DeadlineExceeded.into()) }).await;
        assert_eq!(
            deadline.ended(),
            Ended::Failed("context deadline exceeded".into())
        );
        let stopped = catch(|| async { Err::<(), _>(StopLoop.into()) }).await;
        assert!(matches!(stopped, Outcome::Stopped(_)));
        fn setup_panics() -> std::future::Ready<Result<(), BoxError>> {
            panic!("in the setup")
        }
        let panicked = catch(setup_panics).await;
        assert_eq!(panicked.ended(), Ended::Panicked("in the setup".into()));
    }
}
