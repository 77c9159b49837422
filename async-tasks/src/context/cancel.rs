//! [`CancelHandle`], which cancels a [`Context`], and [`CancelGuard`], which does it when
//! dropped.

use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use super::Context;
use super::ContextError;
use super::node::{Node, Why};

/// Cancels the [`Context`] it was made with, and through it all that context's children.
///
/// Returned by [`Context::with_cancel`], [`Context::with_timeout`] and
/// [`Context::with_deadline`]. Canceling twice is harmless; dropping the handle does
/// **not** cancel (unlike Go, where forgetting to call `cancel` leaks: here the context is
/// freed with its last handle).
///
/// # Examples
///
/// ```
/// use async_tasks::Context;
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// let also_cancel = cancel.clone();
/// drop(cancel);
/// assert!(!ctx.is_done());
/// also_cancel.cancel();
/// assert!(ctx.is_done());
/// ```
#[derive(Clone)]
pub struct CancelHandle {
    pub(super) node: Arc<Node>,
}

impl CancelHandle {
    /// Cancels the context and all its children. Does nothing if it is done already: the
    /// first reason stays.
    pub fn cancel(&self) {
        self.node.cancel(Why::CANCELED);
    }

    /// Cancels the context and all its children, saying why: the context and each child
    /// report `cause` from [`Context::cause`], so that a task can tell, say, a shutdown
    /// from an aborted request. Does nothing if the context is done already: the first
    /// reason and cause stay. Go's `context.WithCancelCause`.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Context;
    ///
    /// let (request, abort) = Context::background().with_cancel();
    /// let (call, _cancel) = request.with_cancel();
    /// abort.cancel_with("client went away");
    /// assert_eq!(call.cause().unwrap().to_string(), "client went away");
    /// ```
    pub fn cancel_with(&self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) {
        self.cancel_because(Why {
            reason: ContextError::Canceled,
            cause: Some(Arc::from(cause.into())),
        });
    }

    /// Cancels with a reason and cause already made (e.g. shared with a returned error).
    pub(crate) fn cancel_because(&self, why: Why) {
        self.node.cancel(why);
    }
}

impl CancelHandle {
    /// Turns the handle into a guard that cancels the context when it is dropped: Go's
    /// `defer cancel()`, as a value that also runs on an early return, a `?` or a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Context;
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// {
    ///     let _guard = cancel.drop_guard();
    ///     assert!(!ctx.is_done());
    /// } // the scope ends: canceled
    /// assert!(ctx.is_done());
    /// ```
    #[must_use = "the context is canceled as soon as the guard is dropped"]
    pub fn drop_guard(self) -> CancelGuard {
        CancelGuard { handle: Some(self) }
    }
}

/// Cancels its [`Context`] when dropped, unless [disarmed](CancelGuard::disarm). Made by
/// [`CancelHandle::drop_guard`]; tokio-util's `DropGuard`.
///
/// # Examples
///
/// Work that cancels its helpers on every way out, unless it hands them on:
///
/// ```
/// use async_tasks::Context;
/// use async_tasks::context::CancelHandle;
///
/// fn start(ctx: &Context, keep: bool) -> Option<CancelHandle> {
///     let (helpers, cancel) = ctx.with_cancel();
///     let guard = cancel.drop_guard();
///     // ... start helpers on `helpers`; a `?` or a panic here cancels them ...
///     # let _ = helpers;
///     keep.then(|| guard.disarm())
/// }
///
/// let kept = start(&Context::background(), true).unwrap();
/// kept.cancel();
/// assert!(start(&Context::background(), false).is_none());
/// ```
#[must_use = "the context is canceled as soon as the guard is dropped"]
pub struct CancelGuard {
    /// `None` only after `disarm`, which consumes the guard.
    handle: Option<CancelHandle>,
}

impl CancelGuard {
    /// Gives the handle back without canceling.
    pub fn disarm(mut self) -> CancelHandle {
        match self.handle.take() {
            Some(handle) => handle,
            None => unreachable!("a guard holds its handle until it is disarmed"),
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.cancel();
        }
    }
}

impl fmt::Debug for CancelGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelGuard")
            .field("armed", &self.handle.is_some())
            .finish()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("err", &self.node.err())
            .finish()
    }
}
