//! A traced call: a body run in a span of its own, with its error or panic recorded on the
//! span, and a panic resumed. The one helper behind `#[async_task]` calls
//! (`__private::call`) and [`RetryableOnceCell`](crate::sync::RetryableOnceCell) attempts, so that
//! both judge a failure the same way.
//!
//! What it records, by what the call returned, judged as a run's end is judged
//! ([`Verdict`], through [`ErrorView::verdict`]):
//! - a failure: `error` (its `Display`), and `otel.status_code = "ERROR"` with
//!   `otel.status_description` — unless the set running the call classes the error as a
//!   warning (then only `error`) or as ignored (then nothing);
//! - a cancellation or a [`StopLoop`](crate::task::StopLoop): nothing (neither is a failure);
//! - a panic: `panic` (its message) and the status fields; then the panic goes on with its
//!   original payload;
//! - no event: reporting the failure is the job of whatever runs the call.
//!
//! The span must declare those fields `Empty` (`crate::fields`).

use std::any::Any;
use std::error::Error;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;

use futures_util::FutureExt;
use tracing::{Instrument, Span};

use crate::context::{Context, ContextError};
use crate::outcome::{Verdict, display, message, record_error, record_panic};
use crate::task::ErrorClass;
use crate::task::with_current;

/// What a traced call can see of an error it returned.
pub(crate) enum ErrorView<'a> {
    /// An error whose `source()` chain can be read (an `#[async_task]` call's `BoxError`).
    Chain(&'a (dyn Error + 'static)),
    /// An error that can only be displayed (a once cell's `E`).
    Opaque(&'a dyn Display),
}

impl ErrorView<'_> {
    /// How the call that returned this error ended, as a set judges a run's end: by the
    /// error's chain ([`Verdict::of`]). An error whose chain cannot be read is judged by the
    /// context of the call (`ctx`): a cancellation if it was canceled, else a failure.
    pub(crate) fn verdict(&self, ctx: Option<&Context>) -> Verdict {
        match self {
            ErrorView::Chain(err) => Verdict::of(*err),
            ErrorView::Opaque(_)
                if ctx.is_some_and(|ctx| ctx.err() == Some(ContextError::Canceled)) =>
            {
                Verdict::Canceled
            }
            ErrorView::Opaque(_) => Verdict::Failed,
        }
    }
}

/// How a traced call ended, as its caller's `ended` hook is told.
pub(crate) enum Ending<'a, T, E> {
    /// It returned this, judged so when it is an error (`None` for `Ok`); only a
    /// [`Verdict::Failed`] is recorded on the span.
    Returned(&'a Result<T, E>, Option<Verdict>),
    /// It panicked with this payload, which is resumed right after the hook.
    Panicked(&'a (dyn Any + Send)),
}

/// Runs a call: `start` (at the first poll) makes its span, its body and the caller's state
/// `M` (a meter); the body runs in the span, `output` turns what it returned into the call's
/// result, and a failure or panic is recorded on the span (see the module docs). `view`
/// shows an error the call returned (`ctx` is the call's context, if it has one). `ended` is
/// told how the call ended, with the state and the span, before the failure is recorded on
/// the span (so that it can mark the span's failure fields as said elsewhere, see
/// [`mark_reported`]) and before the result is returned or the panic resumed.
///
/// One state machine for the whole call, its body made here and moved once, into its span's
/// `Instrumented`: a call's future is copied whenever it moves, so each layer around it (and
/// each argument it keeps) counts.
///
/// # Cancel safety
///
/// Dropped, it drops the body where it stands, inside its span, and records nothing: the
/// span closes neither failed nor stashed for a report (a stash happens only once the body
/// has ended), and `ended` is not called.
pub(crate) async fn traced<S, F, M, T, E>(
    start: S,
    output: impl FnOnce(F::Output) -> Result<T, E>,
    ctx: Option<&Context>,
    view: impl FnOnce(&E) -> ErrorView<'_>,
    ended: impl FnOnce(M, Ending<'_, T, E>, &Span),
) -> Result<T, E>
where
    S: FnOnce() -> (Span, F, M),
    F: Future,
{
    let (span, body, state) = start();
    let mut body = pin!(body.instrument(span));
    let result = match AssertUnwindSafe(body.as_mut()).catch_unwind().await {
        Ok(returned) => output(returned),
        Err(payload) => {
            ended(state, Ending::Panicked(&*payload), body.span());
            record_panic(body.span(), &*payload);
            std::panic::resume_unwind(payload)
        }
    };
    let span = body.span();
    // How the call ended, and what to record of a failure (the message, and whether the
    // span fails).
    let (verdict, record) = match &result {
        Ok(_) => (None, None),
        Err(err) => {
            let seen = view(err);
            let verdict = seen.verdict(ctx);
            if verdict != Verdict::Failed {
                (Some(verdict), None)
            } else {
                // As the set running the call classes the error: `Warn` records it without
                // failing the span, `Ignore` records nothing.
                let class = match seen {
                    ErrorView::Chain(err) => {
                        with_current(|set| set.map_or(ErrorClass::Error, |set| set.classify(err)))
                    }
                    ErrorView::Opaque(_) => ErrorClass::Error,
                };
                let record = (class != ErrorClass::Ignore).then(|| {
                    let message = match seen {
                        ErrorView::Chain(err) => message(err),
                        ErrorView::Opaque(err) => display(err),
                    };
                    (message, class == ErrorClass::Error)
                });
                (Some(verdict), record)
            }
        }
    };
    // Told first, so that a call span the report will speak for is marked before its
    // failure is recorded (see `mark_reported`).
    ended(state, Ending::Returned(&result, verdict), span);
    if let Some((message, fail)) = record {
        record_error(span, &message, fail);
    }
    result
}

/// The callsites of the spans whose `error` and `panic` fields say what an event in the
/// span says already: an `#[async_task]` call's, whose run's report is an event in it.
/// `fmt::Fields` leaves those fields out of a console line, and only those (the program's
/// own spans keep theirs). One entry per callsite that ever failed, added on the failure
/// path only; with the `fmt` feature only.
#[cfg(feature = "fmt")]
static REPORTED: std::sync::RwLock<Vec<tracing::callsite::Identifier>> =
    std::sync::RwLock::new(Vec::new());

/// Marks the callsite of `span` as one whose failure fields an event in it says already
/// (see [`REPORTED`]). Called before the fields are recorded, so that a console formatter
/// formatting the record sees the mark.
#[inline]
pub(crate) fn mark_reported(span: &Span) {
    #[cfg(feature = "fmt")]
    if let Some(metadata) = span.metadata() {
        let callsite = metadata.callsite();
        if !is_reported(&callsite) {
            let mut reported = REPORTED
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !reported.contains(&callsite) {
                reported.push(callsite);
            }
        }
    }
    #[cfg(not(feature = "fmt"))]
    let _ = span;
}

/// Whether the spans of `callsite` have their failure fields said by an event in them
/// (see [`REPORTED`]).
#[cfg(feature = "fmt")]
pub(crate) fn is_reported(callsite: &tracing::callsite::Identifier) -> bool {
    REPORTED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(callsite)
}
