//! [`Pool`]: a bounded set of tasks whose errors come out of [`Pool::wait`].
//!
//! Built from the crate's pieces: a [`Tasks`] runs, traces and supervises each admitted
//! runner; a `tokio::sync::Semaphore` bounds how many run at once; a [`Context`] of the
//! pool's own, joined to each run's context (as `Tasks` joins its shutdown context), stops
//! them all after the first failure when asked to, with that failure as the cause.
//!
//! Invariants:
//! - a run holds one permit from its admission until its task drops the runner (the run
//!   ended, or its runtime went away), so at most `max_concurrency` runners run at once;
//! - between the permit being taken and the task being spawned there is no `.await`, so a
//!   dropped `run` future either never took a slot or has started its runner;
//! - every failure is pushed to the list before its task ends, so `wait` (which drains the
//!   list after `Tasks::wait`) returns the failures of every run that ended before it;
//! - once the pool's own context is cancelled it stays so: nothing is admitted any more.

use std::error::Error;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::report::{is_canceled, panic_message};
use crate::snapshot::TaskKind;
use crate::{BoxError, CancelHandle, Closer, Context, ContextError, Runner, Tasks};

mod errors;

use self::errors::Failure;
pub use self::errors::{PoolErrors, TaskError};

/// A bounded group of tasks: starting a run waits for a free slot, and [`wait`](Pool::wait)
/// returns every error instead of only logging it.
///
/// The successor of the Go package's deprecated `pool`, with the design that replaced it
/// there (`conc`'s pool): no queue to size and no policy for a full one; [`run`](Pool::run)
/// waits until fewer than [`max_concurrency`](Pool::max_concurrency) runs are in flight
/// (or gives up when its context ends), then starts the runner in a tokio task of its own.
///
/// Each run is a [`Tasks`] run, on a `Tasks` named after the pool: it happens in a `"task"`
/// span whose `task.name` is the pool's name, its error (other than
/// [`ContextError::Canceled`]) or panic is reported there as one ERROR event, and a panic
/// never takes the process down. On top of that, [`wait`](Pool::wait) hands the failures
/// back, each with the name of its task (the runner's [`name`](Runner::name), or the
/// pool's).
///
/// With [`cancel_on_error(true)`](Pool::cancel_on_error), the first failure cancels the
/// pool's own context: the runs in flight see their context cancelled, and no run is
/// admitted any more.
///
/// `Pool` is not `Clone`: share it by reference, or in an [`Arc`] when a task must start
/// more runs on it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{sleep, Context, Func, Pool};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::new("fetch").max_concurrency(2);
/// let ctx = Context::background();
/// for page in 1..=5_u64 {
///     // Waits here while two fetches are in flight.
///     pool.run(&ctx, Func::new(move |ctx| async move {
///         sleep(&ctx, Duration::from_millis(100)).await?;
///         if page == 4 {
///             return Err(format!("page {page}: 404").into());
///         }
///         Ok(())
///     }))
///     .await
///     .unwrap();
/// }
/// let errors = pool.wait().await.unwrap_err();
/// assert_eq!(errors.to_string(), "1 task of pool `fetch` failed: fetch: page 4: 404");
/// assert_eq!(errors.errors()[0].name(), "fetch");
/// # }
/// ```
pub struct Pool {
    tasks: Tasks,
    shared: Arc<Shared>,
    /// One permit per slot.
    slots: Arc<Semaphore>,
    max: usize,
    cancel_on_error: bool,
}

/// What the pool's runs share with it.
struct Shared {
    name: Box<str>,
    /// The pool's own context: cancelled by the first failure under `cancel_on_error`.
    ctx: Context,
    cancel: CancelHandle,
    /// Failures not yet returned by `wait`, in the order they happened.
    errors: Mutex<Vec<TaskError>>,
}

impl Pool {
    /// An empty pool named `name`, with no bound on concurrency until
    /// [`max_concurrency`](Pool::max_concurrency) sets one, and that does not cancel on
    /// error.
    ///
    /// Needs no runtime: the tasks are spawned on the runtime current at each
    /// [`run`](Pool::run).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = async_tasks::Pool::new("resize-images").max_concurrency(4);
    /// assert_eq!(pool.name(), "resize-images");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Pool {
        let name: String = name.into();
        let (ctx, cancel) = Context::background().with_cancel();
        Pool {
            tasks: Tasks::new(name.clone()),
            shared: Arc::new(Shared {
                name: name.into_boxed_str(),
                ctx,
                cancel,
                errors: Mutex::new(Vec::new()),
            }),
            slots: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            max: Semaphore::MAX_PERMITS,
            cancel_on_error: false,
        }
    }

    /// Lets at most `n` runs be in flight at once; [`run`](Pool::run) waits for a slot
    /// beyond that.
    ///
    /// Set it before the first run: runs already admitted keep the slots of the bound they
    /// were admitted under. A bound above tokio's [`Semaphore::MAX_PERMITS`] is lowered to
    /// it.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0: such a pool could never run anything.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = async_tasks::Pool::new("uploads").max_concurrency(8);
    /// assert!(format!("{pool:?}").contains("max_concurrency: 8"));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn max_concurrency(mut self, n: usize) -> Pool {
        assert!(
            n > 0,
            "`Pool::max_concurrency(0)` for pool `{}`: a pool needs at least one slot",
            self.shared.name
        );
        let n = n.min(Semaphore::MAX_PERMITS);
        self.slots = Arc::new(Semaphore::new(n));
        self.max = n;
        self
    }

    /// With `true`, the first run that fails (an error other than
    /// [`ContextError::Canceled`], or a panic) cancels the pool's own context: every run
    /// in flight sees its context cancelled, with that failure (a [`TaskError`]) as the
    /// context's [cause](Context::cause), runs waiting for a slot return
    /// `Err(ContextError::Canceled)`, and so does every later [`run`](Pool::run). The pool
    /// stays cancelled; make a new one to start over.
    ///
    /// The failure still comes out of [`wait`](Pool::wait); the cancellations it causes do
    /// not, as cancellations are not errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, ContextError, Func, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("batch").cancel_on_error(true);
    /// let ctx = Context::background();
    /// pool.run(&ctx, Func::new(|_ctx| async { Err("bad row".into()) })).await.unwrap();
    /// pool.run(&ctx, Func::new(|ctx| async move {
    ///     ctx.done().await; // stopped by the failure above
    ///     assert_eq!(ctx.cause().unwrap().to_string(), "batch: bad row");
    ///     Err(ContextError::Canceled.into())
    /// }))
    /// .await
    /// .unwrap();
    /// let errors = pool.wait().await.unwrap_err();
    /// assert_eq!(errors.errors().len(), 1);
    /// assert_eq!(
    ///     pool.run(&ctx, Func::new(|_ctx| async { Ok(()) })).await,
    ///     Err(ContextError::Canceled)
    /// );
    /// # }
    /// ```
    #[must_use]
    pub fn cancel_on_error(mut self, yes: bool) -> Pool {
        self.cancel_on_error = yes;
        self
    }

    /// The pool's name: the `task.name` of its runs' spans, and the name of failures of
    /// runners without a [`name`](Runner::name) of their own.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// How many admitted runs have not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("p");
    /// pool.run(&Context::background(), Func::new(|_ctx| async { Ok(()) })).await.unwrap();
    /// assert_eq!(pool.running(), 1);
    /// pool.wait().await.unwrap();
    /// assert_eq!(pool.running(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn running(&self) -> usize {
        self.tasks.running()
    }

    /// What the pool is running now, as [`Tasks::snapshot`] says it: runs whose runner has
    /// a name are listed (kind [`TaskKind::Pool`]), the others counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Pool, TaskKind};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("imports");
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let job = |ctx: Context| async move {
    ///     ctx.done().await;
    ///     Ok(())
    /// };
    /// pool.run(&ctx, Func::named("batch-7", job)).await.unwrap();
    /// pool.run(&ctx, Func::new(job)).await.unwrap();
    /// let snapshot = pool.snapshot();
    /// assert_eq!(snapshot.tasks[0].name, "batch-7");
    /// assert_eq!(snapshot.tasks[0].kind, TaskKind::Pool);
    /// assert_eq!(snapshot.unlisted, 1);
    /// cancel.cancel();
    /// pool.wait().await.unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> crate::Snapshot {
        self.tasks.snapshot()
    }

    /// Waits for a free slot, then runs `runner` once in a new tokio task, as
    /// [`Tasks::run`] does (its span, its error report, its caught panic), and returns as
    /// soon as the task is started.
    ///
    /// The runner's context is a child of `ctx` (and, with
    /// [`cancel_on_error`](Pool::cancel_on_error), of the pool's own context). Its slot is
    /// given back when the run ends.
    ///
    /// # Errors
    ///
    /// Without running `runner`: `ctx`'s error if `ctx` is done before a slot is free
    /// (also when it is done already, even with a slot free, as
    /// [`MutexWithContext::lock`](crate::MutexWithContext::lock) does), and
    /// [`ContextError::Canceled`] once the pool was cancelled by a failure.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future while it waits gives up its place in the queue
    /// and takes no slot (tokio's semaphore). The slot is taken and the task started in the
    /// same poll, so a dropped future either started the runner or did not take a slot.
    ///
    /// # Panics
    ///
    /// Panics if polled outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, ContextError, Func, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::new("p").max_concurrency(1);
    /// let ctx = Context::background();
    /// // Takes the only slot until the context of the run is cancelled.
    /// let (busy, stop) = ctx.with_cancel();
    /// pool.run(&busy, Func::new(|ctx| async move { ctx.done().await; Ok(()) })).await.unwrap();
    ///
    /// // A run that will not wait more than a second for a slot.
    /// let (impatient, _cancel) = ctx.with_timeout(Duration::from_secs(1));
    /// let refused = pool.run(&impatient, Func::new(|_ctx| async { Ok(()) })).await;
    /// assert_eq!(refused, Err(ContextError::DeadlineExceeded));
    ///
    /// stop.cancel();
    /// pool.wait().await.unwrap();
    /// # }
    /// ```
    pub async fn run<R: Runner + 'static>(
        &self,
        ctx: &Context,
        runner: R,
    ) -> Result<(), ContextError> {
        if let Some(err) = ctx.err().or_else(|| self.shared.ctx.err()) {
            return Err(err);
        }
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.acquire(ctx).await?,
        };
        // A failure may have cancelled the pool while this run waited.
        if let Some(err) = self.shared.ctx.err() {
            return Err(err);
        }
        let admitted = Admitted {
            runner,
            shared: Arc::clone(&self.shared),
            cancel_on_error: self.cancel_on_error,
            _permit: permit,
        };
        if self.cancel_on_error {
            // Done when either is, with the cause of whichever was cancelled.
            let ctx = ctx.join(&self.shared.ctx);
            self.tasks.run_as(TaskKind::Pool, &ctx, admitted);
        } else {
            self.tasks.run_as(TaskKind::Pool, ctx, admitted);
        }
        Ok(())
    }

    /// Waits for a slot, unless `ctx` or the pool's own context ends first.
    async fn acquire(&self, ctx: &Context) -> Result<OwnedSemaphorePermit, ContextError> {
        let pool = &self.shared.ctx;
        tokio::select! {
            // Biased towards the slot: if both are ready, the caller gets what it asked
            // for (as `MutexWithContext::lock` does); its context says the rest.
            biased;
            permit = Arc::clone(&self.slots).acquire_owned() => {
                Ok(permit.expect("a pool never closes its semaphore"))
            }
            () = ctx.done() => Err(ctx.err().unwrap_or(ContextError::Canceled)),
            () = pool.done(), if self.cancel_on_error => {
                Err(pool.err().unwrap_or(ContextError::Canceled))
            }
        }
    }

    /// Waits until every admitted run has finished, then returns the failures not returned
    /// before.
    ///
    /// Like [`Tasks::wait`], it returns once no run is in flight, so it also waits for runs
    /// admitted while it waits; it can be called again after more runs, and returns each
    /// failure once.
    ///
    /// # Errors
    ///
    /// [`PoolErrors`], when runs failed: each failure with its task's name, in the order
    /// they happened. A run that returned an error is one entry (its error); a run that
    /// panicked is one entry (its message). A run that returned
    /// [`ContextError::Canceled`] (or an error caused by it) is not a failure.
    ///
    /// # Panics
    ///
    /// Panics if called from inside one of the pool's own runs, which would wait for
    /// itself forever (see [`Tasks::wait`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the failures are taken only when the future returns them, so a dropped
    /// `wait` loses none.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("jobs");
    /// let ctx = Context::background();
    /// pool.run(&ctx, Func::named("import", |_ctx| async { Err("bad csv".into()) })).await.unwrap();
    /// pool.run(&ctx, Func::new(|_ctx| async { panic!("oops") })).await.unwrap();
    ///
    /// let errors = pool.wait().await.unwrap_err();
    /// let mut lines: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    /// lines.sort();
    /// assert_eq!(lines, ["import: bad csv", "jobs panicked: oops"]);
    ///
    /// // Returned once: the pool is clean again.
    /// assert!(pool.wait().await.is_ok());
    /// # }
    /// ```
    pub async fn wait(&self) -> Result<(), PoolErrors> {
        self.tasks.wait().await;
        let errors = std::mem::take(&mut *lock(&self.shared.errors));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PoolErrors {
                pool: self.shared.name.to_string(),
                errors,
            })
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name())
            .field("max_concurrency", &self.max)
            .field("running", &self.running())
            .field("free_slots", &self.slots.available_permits())
            .field("cancel_on_error", &self.cancel_on_error)
            .field("cancelled", &self.shared.ctx.is_done())
            .field("failures", &lock(&self.shared.errors).len())
            .finish()
    }
}

/// The runner a [`Pool`] hands to its [`Tasks`]: runs the user's runner, keeps its slot
/// until the task drops it, and records its failure.
struct Admitted<R> {
    runner: R,
    shared: Arc<Shared>,
    cancel_on_error: bool,
    /// Given back when the task drops this runner, that is when the run has ended.
    _permit: OwnedSemaphorePermit,
}

#[async_trait::async_trait]
impl<R: Runner> Runner for Admitted<R> {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        // The runner is called inside `catch_unwind`, so that a panic in `run` itself (before
        // it returns a future) is caught too.
        let run = async { self.runner.run(ctx).await };
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) if is_canceled(&*err) => Err(err),
            Ok(Err(err)) => {
                let err: Arc<dyn Error + Send + Sync> = Arc::from(err);
                self.failed(Failure::Error(Arc::clone(&err)));
                // The `Tasks` reports the same error (same `Display`, the original as its
                // `source()`), while the pool keeps it for `wait`.
                Err(Box::new(Reported(err)))
            }
            Err(payload) => {
                self.failed(Failure::Panic(panic_message(&*payload).into()));
                // The `Tasks` catches and reports it, as it does for any run.
                std::panic::resume_unwind(payload)
            }
        }
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        self.runner.as_closer()
    }

    fn name(&self) -> Option<&'static str> {
        self.runner.name()
    }
}

impl<R: Runner> Admitted<R> {
    fn failed(&self, failure: Failure) {
        let name = self.runner.name().unwrap_or(&self.shared.name).to_owned();
        let failed = TaskError { name, failure };
        if self.cancel_on_error {
            // The failure is the cause the other runs see; the first one wins.
            self.shared.cancel.cancel_with(failed.clone());
        }
        lock(&self.shared.errors).push(failed);
    }
}

/// What a pool's [`Tasks`] gets instead of an error the pool keeps: the same message, with
/// the original as its source.
struct Reported(Arc<dyn Error + Send + Sync>);

impl fmt::Debug for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for Reported {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

/// Locks the failure list. Nothing that can panic runs under this lock (a `push` or a
/// `take`), so a poisoned lock still holds a consistent list.
fn lock(errors: &Mutex<Vec<TaskError>>) -> std::sync::MutexGuard<'_, Vec<TaskError>> {
    errors.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "`Pool::max_concurrency(0)` for pool `p`")]
    fn zero_slots_is_refused() {
        let _ = Pool::new("p").max_concurrency(0);
    }

    #[test]
    fn a_bound_above_the_semaphore_limit_is_lowered() {
        let pool = Pool::new("p").max_concurrency(usize::MAX);
        assert_eq!(pool.max, Semaphore::MAX_PERMITS);
    }

    #[test]
    fn reported_errors_keep_the_message_and_the_original_as_source() {
        let original: Arc<dyn Error + Send + Sync> = Arc::from(BoxError::from("disk full"));
        let reported = Reported(Arc::clone(&original));
        assert_eq!(reported.to_string(), "disk full");
        assert_eq!(reported.source().unwrap().to_string(), "disk full");
        assert!(!is_canceled(&reported));
        let canceled = Reported(Arc::new(ContextError::Canceled));
        assert!(is_canceled(&canceled));
    }
}
