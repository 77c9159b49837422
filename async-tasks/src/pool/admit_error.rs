//! [`AdmitError`]: why [`Pool::run`](crate::pool::Pool::run) did not start a runner.

use std::error::Error;
use std::fmt;

use crate::context::ContextError;

/// Why [`Pool::run`](crate::pool::Pool::run), [`spawn`](crate::pool::Pool::spawn) or
/// [`try_spawn`](crate::pool::Pool::try_spawn) did not start a job: the pool is closed, the
/// caller's context ended first, or (`try_spawn`) it had no room. The job was dropped
/// without running.
///
/// Its [`source`](Error::source) is the [`ContextError`] when there is one, so an error
/// that wraps a cancellation is recognised as one (a set does not report it).
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func};
/// use async_tasks::context::ContextError;
/// use async_tasks::pool::{AdmitError, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::new("jobs");
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel();
/// let err = pool.run(&ctx, Func::new(|_ctx| async { Ok(()) })).await.unwrap_err();
/// assert_eq!(err, ContextError::Canceled);
/// assert_eq!(err.context_error(), Some(ContextError::Canceled));
/// assert_eq!(err, AdmitError::from(ContextError::Canceled));
///
/// pool.tasks().close();
/// let err = pool.run(&Context::background(), Func::new(|_ctx| async { Ok(()) })).await;
/// assert!(err.unwrap_err().is_closed());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdmitError {
    /// The pool admits nothing any more: its set (or a parent set) was closed, drained or
    /// shut down, or a failure shut it down (see
    /// [`Pool::cancel_on_error`](crate::pool::Pool::cancel_on_error)).
    Closed,
    /// The caller's context was done before a slot was free.
    Context(ContextError),
    /// No slot was free and the pool's [`queue`](crate::pool::Pool::queue) was full (or it
    /// has none): from [`Pool::try_spawn`](crate::pool::Pool::try_spawn), which does not
    /// wait. Try again later, or tell the caller to (an HTTP 503).
    Full,
}

impl AdmitError {
    /// Whether the pool was closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, AdmitError::Closed)
    }

    /// Whether the pool had no room: no free slot, and a full queue.
    #[must_use]
    pub fn is_full(&self) -> bool {
        matches!(self, AdmitError::Full)
    }

    /// The caller's context's error, if that is why.
    #[must_use]
    pub fn context_error(&self) -> Option<ContextError> {
        match self {
            AdmitError::Context(err) => Some(*err),
            AdmitError::Closed | AdmitError::Full => None,
        }
    }
}

impl fmt::Display for AdmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmitError::Closed => f.write_str("the pool is closed: it admits no new runs"),
            AdmitError::Full => {
                f.write_str("the pool is full: no free slot, and no room in its queue")
            }
            AdmitError::Context(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl Error for AdmitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AdmitError::Context(err) => Some(err),
            AdmitError::Closed | AdmitError::Full => None,
        }
    }
}

impl From<ContextError> for AdmitError {
    fn from(err: ContextError) -> Self {
        AdmitError::Context(err)
    }
}

impl PartialEq<ContextError> for AdmitError {
    fn eq(&self, other: &ContextError) -> bool {
        self.context_error() == Some(*other)
    }
}
