//! [`MutexWithContext`]: a lock whose `lock` gives up when a context ends.
//!
//! A thin layer over `tokio::sync::Mutex`: tokio's lock future already releases its place in
//! the queue when dropped and never poisons, so the only state added here is none at all.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::context::{Context, ContextError};

/// A mutex whose [`lock`](MutexWithContext::lock) fails when a [`Context`] is done before
/// the lock is taken, as Go's `async.MutexWithContext`.
///
/// Unlike Go's, it holds the data it protects (`T`, `()` by default) and unlocks when the
/// guard is dropped, so a lock can never be released twice or leaked by an early return,
/// a panic or a dropped `lock` future. There is no poisoning: a panic while holding the
/// guard simply releases it.
///
/// Waiters are served in FIFO order (it is built on [`tokio::sync::Mutex`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{Context, MutexWithContext};
/// use async_tasks::context::ContextError;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let counter = MutexWithContext::new(0);
/// let ctx = Context::background();
///
/// *counter.lock(&ctx).await.unwrap() += 1;
///
/// let held = counter.lock(&ctx).await.unwrap();
/// let (impatient, _cancel) = ctx.with_timeout(Duration::from_millis(10));
/// assert_eq!(
///     counter.lock(&impatient).await.err(),
///     Some(ContextError::DeadlineExceeded)
/// );
/// assert_eq!(*held, 1);
/// # }
/// ```
#[derive(Default)]
pub struct MutexWithContext<T = ()> {
    inner: tokio::sync::Mutex<T>,
}

/// Access to the data of a locked [`MutexWithContext`]; dropping it unlocks.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexWithContextGuard<'a, T> {
    inner: tokio::sync::MutexGuard<'a, T>,
}

impl<T> MutexWithContext<T> {
    /// An unlocked mutex holding `value`.
    #[must_use]
    pub const fn new(value: T) -> Self {
        MutexWithContext {
            inner: tokio::sync::Mutex::const_new(value),
        }
    }

    /// Locks the mutex, waiting while it is held, unless `ctx` is done first.
    ///
    /// The context is checked first, as Go's semaphore does: a done context fails even when
    /// the lock is free; and again once a held lock is taken after waiting, so that a
    /// context done by then fails too. An uncontended lock is one atomic read of the
    /// context and one `try_lock`; only a held lock waits, on the lock and the context
    /// together.
    ///
    /// # Errors
    ///
    /// The context's error if it is done before the lock is taken.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`tokio::sync::Mutex::lock`] is: dropping the future gives up the
    /// place in the queue, and never leaves the mutex locked.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, MutexWithContext};
    /// use async_tasks::context::ContextError;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mutex = MutexWithContext::new(vec![1]);
    /// mutex.lock(&Context::background()).await.unwrap().push(2);
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// cancel.cancel();
    /// assert_eq!(mutex.lock(&ctx).await.err(), Some(ContextError::Canceled));
    /// # }
    /// ```
    pub async fn lock(&self, ctx: &Context) -> Result<MutexWithContextGuard<'_, T>, ContextError> {
        if let Some(err) = ctx.err() {
            return Err(err);
        }
        if let Ok(inner) = self.inner.try_lock() {
            return Ok(MutexWithContextGuard { inner });
        }
        let inner = tokio::select! {
            biased;
            inner = self.inner.lock() => inner,
            () = ctx.done() => return Err(ctx.err().unwrap_or(ContextError::Canceled)),
        };
        // The lock may come after a long wait, in the same poll as the context ending: a
        // waiter checks its context again before it acts, so a done context never gets the
        // lock (the guard is dropped here, and the next waiter gets it).
        match ctx.err() {
            None => Ok(MutexWithContextGuard { inner }),
            Some(err) => Err(err),
        }
    }

    /// Locks the mutex if it is free right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = async_tasks::MutexWithContext::new(());
    /// let guard = mutex.try_lock().unwrap();
    /// assert!(mutex.try_lock().is_none());
    /// drop(guard);
    /// assert!(mutex.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexWithContextGuard<'_, T>> {
        self.inner
            .try_lock()
            .ok()
            .map(|inner| MutexWithContextGuard { inner })
    }

    /// The data, through a unique borrow: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::MutexWithContext;
    ///
    /// let mut counter = MutexWithContext::from(1);
    /// *counter.get_mut() += 1;
    /// assert_eq!(counter.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Consumes the mutex and returns its data (see [`get_mut`](MutexWithContext::get_mut)
    /// for an example).
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T> From<T> for MutexWithContext<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexWithContext<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("MutexWithContext");
        match self.inner.try_lock() {
            Ok(data) => s.field("data", &&*data),
            Err(_) => s.field("data", &format_args!("<locked>")),
        };
        s.finish()
    }
}

impl<T> Deref for MutexWithContextGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexWithContextGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexWithContextGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexWithContextGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
