//! [`MutexWithContext`]: a lock whose `lock` gives up when a context ends.
//!
//! Two locks in one, so that an uncontended lock + unlock is one atomic read-modify-write
//! each way and never touches a waiter list:
//!
//! - `data`, a `futures_util::lock::Mutex`: the data and the lock itself. Its lock word
//!   holds a "locked" bit and a "has waiters" bit; `try_lock` sets the first with one
//!   `fetch_or`, the guard's drop clears it with one `fetch_and` and visits the waiter list
//!   only when the second is set. (tokio's `Mutex` is a semaphore whose every release takes
//!   the semaphore's waiter-list mutex: about 100 of its 126 instructions per uncontended
//!   lock + unlock, by callgrind.) Its own queue is not fair, so it never holds more than
//!   one waiter: the locker whose turn it is.
//! - `turnstile`, a `tokio::sync::Semaphore` of one permit, the *turn*: the FIFO queue of
//!   lockers that found the lock held or others waiting. A queued locker takes the turn,
//!   then waits for `data`, and its guard keeps the turn until it unlocks, so that under
//!   contention the lock passes from one holder to the next in the order they queued,
//!   through tokio's fair hand-off.
//! - The fast path (`try_lock`, and `lock` before it queues) is taken only while the turn
//!   is free, that is while no locker is queued or holds the lock through the queue: one
//!   that finds the turn taken queues behind, so a task that unlocks and locks again cannot
//!   overtake those waiting.
//!
//! Invariants:
//! - Mutual exclusion is `data`'s alone: every guard holds a `data` guard.
//! - At most one locker waits on `data` at a time (the holder of the turn), so `data`'s
//!   unfair queue never chooses between waiters.
//! - No wake-up is this module's: a queued locker waits either on the turnstile (woken by
//!   tokio when the turn is released: the guard releases it after unlocking `data`) or,
//!   holding the turn, on `data` (woken by `data`'s unlock, whose "has waiters" bit shares
//!   the word with "locked", so an unlock cannot miss a waiter). Whether the turn is free
//!   decides only who may try the fast path: reading it just as a locker queues lets the
//!   newcomer take a free lock first, a race with no order to keep; mutual exclusion and
//!   wake-ups never depend on it.
//! - Dropping a `lock` future drops its turnstile wait or its turn and its `data` wait,
//!   each of which gives up its place (and passes on a wake-up it had received); so the turn
//!   and the lock are never leaked.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::context::{Context, ContextError};
use crate::loom::interleave;

/// A mutex whose [`lock`](MutexWithContext::lock) fails when a [`Context`] is done before
/// the lock is taken, as Go's `async.MutexWithContext`.
///
/// Unlike Go's, it holds the data it protects (`T`, `()` by default) and unlocks when the
/// guard is dropped, so a lock can never be released twice or leaked by an early return,
/// a panic or a dropped `lock` future. There is no poisoning: a panic while holding the
/// guard simply releases it.
///
/// Fair: a `lock` that finds the lock held, or others waiting, waits in a FIFO queue, and the
/// lock passes to the waiters in the order they came (through a [`tokio::sync::Semaphore`]).
/// An uncontended `lock` + unlock costs two atomic operations, about what a
/// [`std::sync::Mutex`] costs, and never yields to the runtime.
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
pub struct MutexWithContext<T = ()> {
    /// The turn: one permit, held by the first queued locker and then by its guard.
    turnstile: tokio::sync::Semaphore,
    /// The data, and the lock itself.
    data: futures_util::lock::Mutex<T>,
}

/// Access to the data of a locked [`MutexWithContext`]; dropping it unlocks.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexWithContextGuard<'a, T> {
    // Dropped in this order: the lock is released before the turn passes on, so the next
    // in the queue finds it free.
    data: futures_util::lock::MutexGuard<'a, T>,
    /// The turn, if the lock was taken through the queue.
    _turn: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl<T> MutexWithContext<T> {
    /// An unlocked mutex holding `value`.
    #[must_use]
    pub const fn new(value: T) -> Self {
        MutexWithContext {
            turnstile: tokio::sync::Semaphore::const_new(1),
            data: futures_util::lock::Mutex::new(value),
        }
    }

    /// Locks the mutex, waiting while it is held, unless `ctx` is done first.
    ///
    /// The context is checked first, as Go's semaphore does: a done context fails even when
    /// the lock is free; and again once a held lock is taken after waiting, so that a
    /// context done by then fails too. An uncontended lock is one atomic read of the
    /// context, one of the turn and one atomic `fetch_or`; only a held lock (or one with
    /// others waiting) waits, in the FIFO queue and on the context together.
    ///
    /// # Errors
    ///
    /// The context's error if it is done before the lock is taken.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`tokio::sync::Mutex::lock`] is: dropping the future gives up the
    /// place in the queue (passing the turn on if it had come), and never leaves the mutex
    /// locked.
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
        if let Some(guard) = self.try_lock() {
            return Ok(guard);
        }
        self.lock_queued(ctx).await
    }

    /// The slow path of [`lock`](MutexWithContext::lock): in the queue, then on the lock,
    /// unless the context ends first.
    async fn lock_queued(
        &self,
        ctx: &Context,
    ) -> Result<MutexWithContextGuard<'_, T>, ContextError> {
        let taken = async {
            let turn = self
                .turnstile
                .acquire()
                .await
                .expect("the turnstile is never closed");
            // Where a fast-path holder may unlock, or another locker come (loom models).
            interleave();
            // The turn has come: no other queued locker waits on `data`; only the holder of
            // a lock taken by the fast path, while the turn was free, can be ahead.
            MutexWithContextGuard {
                data: self.data.lock().await,
                _turn: Some(turn),
            }
        };
        let guard = tokio::select! {
            biased;
            guard = taken => guard,
            () = ctx.done() => return Err(ctx.err().unwrap_or(ContextError::Canceled)),
        };
        // The lock may come after a long wait, in the same poll as the context ending: a
        // waiter checks its context again before it acts, so a done context never gets the
        // lock (the guard is dropped here, and the next waiter gets it).
        match ctx.err() {
            None => Ok(guard),
            Some(err) => Err(err),
        }
    }

    /// Locks the mutex if it is free right now and no `lock` is waiting for it.
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
        // The turn taken: others are waiting, or one holds the lock through the queue. This
        // read only chooses the path, so it needs no ordering of its own (tokio's is an
        // acquire load); `data`'s `fetch_or` (acquire) orders the data.
        if self.turnstile.available_permits() == 0 {
            return None;
        }
        // Where a locker may queue while this one takes the fast path: the race the loom
        // models explore (nothing outside them).
        interleave();
        self.data
            .try_lock()
            .map(|data| MutexWithContextGuard { data, _turn: None })
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
        self.data.get_mut()
    }

    /// Consumes the mutex and returns its data (see [`get_mut`](MutexWithContext::get_mut)
    /// for an example).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: Default> Default for MutexWithContext<T> {
    fn default() -> Self {
        Self::new(T::default())
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
        match self.try_lock() {
            Some(data) => s.field("data", &&*data),
            None => s.field("data", &format_args!("<locked>")),
        };
        s.finish()
    }
}

impl<T> Deref for MutexWithContextGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for MutexWithContextGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
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

#[cfg(all(test, async_tasks_loom))]
mod loom_models;
