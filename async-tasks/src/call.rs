//! A traced call: a body run in a span of its own, with its error or panic recorded on the
//! span, and a panic resumed. The one helper behind `#[async_task]` calls
//! (`__private::call`) and [`RetryableOnceCell`](crate::RetryableOnceCell) attempts, so that
//! both judge a failure the same way.
//!
//! What it records, by what the call returned:
//! - an error that is not a cancellation (see [`is_cancellation`]): `error` (its
//!   `Display`), and `otel.status_code = "ERROR"` with `otel.status_description` — unless
//!   the set running the call classes the error as a warning (then only `error`) or as
//!   ignored (then nothing);
//! - a panic: `panic` (its message) and the status fields; then the panic goes on with its
//!   original payload;
//! - no event: reporting the failure is the job of whatever runs the call.
//!
//! The span must declare those fields `Empty` (`outcome::fields`).

use std::any::Any;
use std::error::Error;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;

use futures_util::FutureExt;
use tracing::{Instrument, Span};

use crate::error_class::ErrorClass;
use crate::outcome::{display, is_canceled, message, record_error, record_panic};
use crate::tasks::with_current;
use crate::{Context, ContextError};

/// What a traced call can see of an error it returned.
pub(crate) enum ErrorView<'a> {
    /// An error whose `source()` chain can be read (an `#[async_task]` call's `BoxError`).
    Chain(&'a (dyn Error + 'static)),
    /// An error that can only be displayed (a once cell's `E`).
    Opaque(&'a dyn Display),
}

/// Whether a failed call is a cancellation, which records nothing: an error that is (or
/// wraps) [`ContextError::Canceled`], as a set's report judges it. An error whose chain
/// cannot be read is judged by the context of the call (`ctx`): a cancellation if it was
/// cancelled.
pub(crate) fn is_cancellation(err: &ErrorView<'_>, ctx: Option<&Context>) -> bool {
    match err {
        ErrorView::Chain(err) => is_canceled(*err),
        ErrorView::Opaque(_) => ctx.is_some_and(|ctx| ctx.err() == Some(ContextError::Canceled)),
    }
}

/// How a traced call ended, as its caller's `ended` hook is told.
pub(crate) enum Ending<'a, T, E> {
    /// It returned this; `true` if it was a failure, recorded on the span (not a
    /// cancellation).
    Returned(&'a Result<T, E>, bool),
    /// It panicked with this payload, which is resumed right after the hook.
    Panicked(&'a (dyn Any + Send)),
}

/// Runs a call: `start` (at the first poll) makes its span, its body and the caller's state
/// `M` (a meter); the body runs in the span, `output` turns what it returned into the call's
/// result, and a failure or panic is recorded on the span (see the module docs). `view`
/// shows an error the call returned (`ctx` is the call's context, if it has one). `ended` is
/// told how the call ended, with the state and the span, before the result is returned or
/// the panic resumed.
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
            record_panic(body.span(), &*payload);
            ended(state, Ending::Panicked(&*payload), body.span());
            std::panic::resume_unwind(payload)
        }
    };
    let span = body.span();
    let failed = match &result {
        Ok(_) => false,
        Err(err) => {
            let seen = view(err);
            let failed = !is_cancellation(&seen, ctx);
            if failed {
                // As the set running the call classes the error: `Warn` records it without
                // failing the span, `Ignore` records nothing.
                let class = match seen {
                    ErrorView::Chain(err) => {
                        with_current(|set| set.map_or(ErrorClass::Error, |set| set.classify(err)))
                    }
                    ErrorView::Opaque(_) => ErrorClass::Error,
                };
                if class != ErrorClass::Ignore {
                    let message = match seen {
                        ErrorView::Chain(err) => message(err),
                        ErrorView::Opaque(err) => display(err),
                    };
                    record_error(span, &message, class == ErrorClass::Error);
                }
            }
            failed
        }
    };
    ended(state, Ending::Returned(&result, failed), span);
    result
}
