//! [`ContextError`] and [`Cause`]: why a context is done, the vocabulary shared by
//! [`Context`](super::Context) and its tree.

use std::fmt;
use std::sync::Arc;

/// What [`Context::cause`](crate::context::Context::cause) returns: the error that says why a context was canceled,
/// shared by the context and all its children.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`Context`](crate::context::Context) is done.
///
/// Go's `context.Canceled` and `context.DeadlineExceeded`. A context's error
/// never changes once set: the first reason wins.
///
/// # Examples
///
/// ```
/// use async_tasks::Context;
/// use async_tasks::context::ContextError;
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel();
/// assert_eq!(ctx.err(), Some(ContextError::Canceled));
/// assert_eq!(ContextError::Canceled.to_string(), "context canceled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// The context, or one of its parents, was canceled.
    #[doc(alias = "Cancelled")]
    Canceled,
    /// The context's deadline, or one of its parents', has passed.
    DeadlineExceeded,
}

impl ContextError {
    /// Its message, as `Display` writes it.
    pub(crate) const fn text(self) -> &'static str {
        match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        }
    }
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for ContextError {}
