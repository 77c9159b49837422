//! [`RetryableOnceCell`]: lazy async initialisation that may fail and be retried.
//!
//! A thin layer over `tokio::sync::OnceCell`, which already does the hard part: its
//! `get_or_try_init` lets one caller at a time run an attempt (a semaphore permit), makes
//! the others wait for it, keeps the value of a successful attempt, and leaves the cell
//! empty after a failed, dropped or panicking one, so that the next waiter tries. Added
//! here: a [`Context`] that bounds the *waiting*, and a span per attempt.
//!
//! Invariants:
//! - an attempt starts only once the caller holds tokio's permit, and only if the caller's
//!   context is still live then (a waiter re-checks its context after it wakes, before it
//!   acts);
//! - an attempt is never dropped by this layer because the caller's context ended (the
//!   attempt gets the context and observes it itself);
//! - a caller gives up waiting only before its own attempt has started.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use tracing::field::Empty;

use crate::call::{ErrorView, traced};
use crate::context::{Context, ContextError};
use crate::fields;

/// A cell initialised by the first async attempt that succeeds: the async form of
/// [`RetryableOnce`](crate::sync::RetryableOnce), for lazy initialisation that may fail
/// (connecting a database pool, fetching a config).
///
/// [`get_or_try_init`](RetryableOnceCell::get_or_try_init) returns the value if the cell
/// has one. Otherwise its caller runs an attempt, or waits for the attempt in flight:
///
/// - **single flight**: one attempt at a time; callers that arrive meanwhile wait for it
///   and get its value;
/// - **retried after a failure**: a failed attempt leaves the cell empty and its error goes
///   to its caller only; the next caller (a waiter, or a later call) makes its own attempt;
/// - **context-aware waiting**: a caller whose context ends while it waits for someone
///   else's attempt returns the context's error; the attempt in flight goes on;
/// - **traced**: each attempt runs in a span of its own (below).
///
/// A value is never replaced: once set, it is returned to every caller, even one whose
/// context is done, without waiting.
///
/// # Spans
///
/// Each attempt runs in a span named `"init"` at INFO, a child of the span current where
/// its caller awaits, with fields `once` (the cell's name), `attempt` (1 for the first
/// attempt of this cell, 2 for the next, ...) and `otel.name` (`init NAME`, the name
/// OpenTelemetry shows). A failed attempt records on it, as `#[async_task]` call spans do:
/// `error` (the error's `Display`), `otel.status_code = "ERROR"` and
/// `otel.status_description`; a panicking attempt records `panic` (its message) and the
/// same status fields. An attempt that fails after its context was canceled is a
/// cancellation, not a failure: it records nothing. Callers that wait, and calls that find
/// the value, make no span.
///
/// # Panics and cancellation
///
/// If an attempt panics, the panic propagates to its caller and the cell stays empty, so
/// the next caller tries again. (Unlike [`RetryableOnce`](crate::sync::RetryableOnce), whose
/// panic counts as done: here there is no value to be done with.) If the future of a call
/// is dropped while its attempt runs, the attempt is dropped too and the next waiter tries.
///
/// # Examples
///
/// A database pool whose first connection fails, then succeeds:
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use async_tasks::{BoxError, Context};
/// use async_tasks::sync::RetryableOnceCell;
///
/// struct DbPool {
///     url: String,
/// }
///
/// static DB: RetryableOnceCell<DbPool> = RetryableOnceCell::new("db-pool");
/// static CONNECTS: AtomicU32 = AtomicU32::new(0);
///
/// async fn connect(_ctx: Context) -> Result<DbPool, BoxError> {
///     if CONNECTS.fetch_add(1, Ordering::SeqCst) == 0 {
///         return Err("connection refused".into()); // the database is still starting
///     }
///     Ok(DbPool { url: "postgres://db/app".into() })
/// }
///
/// async fn db(ctx: &Context) -> Result<&'static DbPool, BoxError> {
///     DB.get_or_try_init(ctx, connect).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let ctx = Context::background();
/// let err = db(&ctx).await.err().unwrap();
/// assert_eq!(err.to_string(), "connection refused");
/// assert!(DB.get().is_none()); // a failure leaves the cell empty...
///
/// assert_eq!(db(&ctx).await?.url, "postgres://db/app"); // ...so the next call retries
/// db(&ctx).await?; // and from now on the value is there: no more connecting
/// assert_eq!(CONNECTS.load(Ordering::SeqCst), 2);
/// # Ok(())
/// # }
/// ```
pub struct RetryableOnceCell<T> {
    name: &'static str,
    cell: tokio::sync::OnceCell<T>,
    /// Attempts started so far, numbering the spans.
    attempts: AtomicU64,
}

impl<T> RetryableOnceCell<T> {
    /// An empty cell; `name` is the `once` field of its attempts' spans. `const`, so that
    /// the cell can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::sync::RetryableOnceCell;
    ///
    /// static CONFIG: RetryableOnceCell<String> = RetryableOnceCell::new("config");
    /// assert_eq!(CONFIG.name(), "config");
    /// assert!(CONFIG.get().is_none());
    /// ```
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        RetryableOnceCell {
            name,
            cell: tokio::sync::OnceCell::const_new(),
            attempts: AtomicU64::new(0),
        }
    }

    /// The name given to [`new`](RetryableOnceCell::new).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value, if an attempt has succeeded. Never waits.
    #[must_use]
    pub fn get(&self) -> Option<&T> {
        self.cell.get()
    }

    /// The value, if an attempt has succeeded, consuming the cell.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{BoxError, Context};
    /// use async_tasks::sync::RetryableOnceCell;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cell = RetryableOnceCell::new("answer");
    /// cell.get_or_try_init(&Context::background(), |_ctx| async { Ok::<_, BoxError>(42) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(cell.into_inner(), Some(42));
    /// # }
    /// ```
    #[must_use]
    pub fn into_inner(self) -> Option<T> {
        self.cell.into_inner()
    }

    /// The value, initialising it with `f` if the cell is empty.
    ///
    /// If the cell has a value, returns it at once (whatever the state of `ctx`). If it is
    /// empty and `ctx` is done, returns `ctx`'s error without calling `f`. Otherwise it
    /// waits until no other caller's attempt is in flight, then either finds the value that
    /// attempt produced, or — checking `ctx` again first, so that a caller whose context
    /// ended while it waited does not call `f` — makes an attempt of its own: calls `f`
    /// with a clone of `ctx`
    /// and awaits the future in the attempt's [span](RetryableOnceCell#spans). `Ok` stores
    /// the value and returns it; `Err` leaves the cell empty and returns the error.
    ///
    /// While it waits for *another* caller's attempt, it gives up when `ctx` ends. Its
    /// *own* attempt is not cut short by this method when `ctx` ends: `f` gets the context
    /// to observe it (with [`sleep`](crate::context::sleep()), [`Context::done`], a child context for
    /// a client call...), and returns an error when it is done.
    ///
    /// # Errors
    ///
    /// - the error of this caller's own attempt;
    /// - `E::from(ctx's error)` if `ctx` is done before a value is found or an attempt
    ///   started.
    ///
    /// The error type is `f`'s, which must convert from [`ContextError`]: a function that
    /// takes a [`Context`] propagates its errors with `?` already ([`sleep`](crate::context::sleep()),
    /// [`MutexWithContext::lock`](crate::sync::MutexWithContext::lock)), so `BoxError`,
    /// `anyhow::Error` or an enum with a `#[from] ContextError` variant serves as it is,
    /// and the call site handles one error type with one `?`.
    ///
    /// # Panics
    ///
    /// If `f` or its future panics, the panic propagates (after being recorded on the
    /// attempt's span) and the cell stays empty. Calling `get_or_try_init` on the same cell
    /// from inside `f` waits for itself forever (as with tokio's `OnceCell`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits is harmless: nothing was taken. Dropping it while
    /// its own attempt runs drops that attempt (its span closes without an outcome): the
    /// cell stays empty and the next waiter makes an attempt of its own.
    ///
    /// # Examples
    ///
    /// A caller whose deadline passes while another caller's attempt is in flight:
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{sleep, BoxError, Context};
    /// use async_tasks::context::ContextError;
    /// use async_tasks::sync::RetryableOnceCell;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let cell = RetryableOnceCell::new("slow-config");
    /// let ctx = Context::background();
    /// let slow = |ctx: Context| async move {
    ///     sleep(&ctx, Duration::from_secs(10)).await?; // a slow fetch
    ///     Ok::<_, BoxError>("config")
    /// };
    /// let (impatient, _cancel) = ctx.with_timeout(Duration::from_secs(1));
    /// let (first, second) = tokio::join!(
    ///     cell.get_or_try_init(&ctx, slow),
    ///     cell.get_or_try_init(&impatient, slow),
    /// );
    /// assert_eq!(first.unwrap(), &"config");
    /// let err = second.unwrap_err();
    /// assert_eq!(
    ///     err.downcast_ref::<ContextError>(),
    ///     Some(&ContextError::DeadlineExceeded)
    /// );
    /// # }
    /// ```
    pub async fn get_or_try_init<F, Fut, E>(&self, ctx: &Context, f: F) -> Result<&T, E>
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<ContextError> + fmt::Display,
    {
        if let Some(value) = self.cell.get() {
            return Ok(value);
        }
        if let Some(err) = ctx.err() {
            return Err(err.into());
        }
        // Set when tokio hands this caller the permit and it starts its own attempt; read
        // by the same task in the same poll or a later one, so `Relaxed` is enough (an
        // atomic only so that the future stays `Send`).
        let started = AtomicBool::new(false);
        let mut init = pin!(self.cell.get_or_try_init(|| {
            started.store(true, Ordering::Relaxed);
            async {
                // The permit may come after a long wait: a caller whose context ended
                // meanwhile gives up now, before it acts (the next waiter gets the permit).
                if let Some(err) = ctx.err() {
                    return Err(err.into());
                }
                self.attempt(ctx.clone(), f).await
            }
        }));
        let mut done = pin!(ctx.done());
        poll_fn(|cx| {
            // The cell first: a value found, or an attempt ended, wins over the context.
            if let Poll::Ready(result) = init.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if !started.load(Ordering::Relaxed) && done.as_mut().poll(cx).is_ready() {
                let err = ctx.err().unwrap_or(ContextError::Canceled);
                return Poll::Ready(Err(err.into()));
            }
            Poll::Pending
        })
        .await
    }

    /// One attempt: `f(ctx)` in a span of its own, its failure or panic recorded there.
    ///
    /// # Cancel safety
    ///
    /// Dropped, it drops `f`'s future where it stands and closes its span with nothing
    /// recorded; the cell stays empty, and the permit its caller holds goes back with the
    /// caller's future, so the next waiter makes its own attempt.
    async fn attempt<F, Fut, E>(&self, ctx: Context, f: F) -> Result<T, E>
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        // `Relaxed`: the count only numbers the spans, and attempts are serialised by
        // tokio's permit anyway.
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::info_span!(
            "init",
            once = self.name,
            attempt,
            otel.name = %format_args!("init {}", self.name),
            { fields::ERROR } = Empty,
            { fields::STATUS_CODE } = Empty,
            { fields::STATUS_DESCRIPTION } = Empty,
            { fields::PANIC } = Empty,
        );
        // `f` is called inside the span and inside the panic guard, so that a panic in `f`
        // itself (before it returns a future) is recorded too.
        let body = {
            let ctx = ctx.clone();
            async move { f(ctx).await }
        };
        traced(
            move || (span, body, ()),
            |returned| returned,
            Some(&ctx),
            |err| ErrorView::Opaque(err),
            |(), _, _| {},
        )
        .await
    }
}

impl<T> fmt::Debug for RetryableOnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryableOnceCell")
            .field("name", &self.name)
            .field("initialized", &self.cell.initialized())
            .field("attempts", &self.attempts.load(Ordering::Relaxed))
            .finish()
    }
}
