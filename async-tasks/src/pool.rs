//! Bounded concurrency: [`Pool`], a set of tasks that runs at most `n` at once, admits work
//! by the caller's context ([`AdmitError`]) and hands every failure back from
//! [`Pool::wait`] ([`PoolErrors`]).
//!
//! Built from the crate's pieces: a pool is a set of tasks of its own (a child of the set
//! it was made from with [`Tasks::pool`], or a root set), which runs, traces, supervises
//! and lists each admitted runner, and keeps its failures for `wait`; a
//! `tokio::sync::Semaphore` bounds how many run at once.
//!
//! Invariants:
//! - a run holds one permit from its admission until its task drops the runner (the run
//!   ended, or it was aborted, or its runtime went away), so at most `max_concurrency`
//!   runners run at once;
//! - between the permit being taken and the task being spawned there is no `.await`, so a
//!   dropped `run` future either never took a slot or has started its runner;
//! - a caller is admitted only if, once it holds its slot, its context is live and the
//!   pool is open: a waiter re-checks both after it wakes, before it acts;
//! - every failure is kept by the pool's set before its task ends, so `wait` (which takes
//!   them after waiting for the set) returns the failures of every run that ended before;
//! - once the pool's set is closed it stays so: nothing is admitted any more.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::context::Context;
#[cfg(doc)]
use crate::context::ContextError;
use crate::runner::{BoxError, Runner};
use crate::task::{OnFailure, TaskHandle, TaskKind, Tasks};

mod admit;
mod admit_error;
mod pool_errors;

pub use self::admit_error::AdmitError;
pub use self::pool_errors::PoolErrors;

/// A bounded group of tasks: starting a run waits for a free slot, and [`wait`](Pool::wait)
/// returns every error instead of only logging it.
///
/// The successor of the Go package's deprecated `pool`, with the design that replaced it
/// there (`conc`'s pool): by default no queue to size and no policy for a full one;
/// [`run`](Pool::run) waits until fewer than [`max_concurrency`](Pool::max_concurrency) runs
/// are in flight (or gives up when its context ends), then starts the runner in a tokio task
/// of its own. For a caller that cannot wait (an HTTP handler), [`queue`](Pool::queue) puts
/// a queue of a given size in front of the slots, and [`try_spawn`](Pool::try_spawn) accepts
/// a job at once or refuses it ([`AdmitError::Full`]).
///
/// A pool is a set of tasks: [`Tasks::pool`] makes it a child of a set, so that its runs
/// are that set's runs — listed (kind [`TaskKind::Pool`]) in its [`snapshot`](Tasks::snapshot)
/// and [`shutdown_report`](Tasks::shutdown_report) under their own names, counted in its
/// [`running`](Tasks::running), closed by its [`drain`](Tasks::drain), canceled by its
/// [`shutdown`](Tasks::shutdown) and aborted at the end of a report's grace period; no run
/// of a pool outlives its set's `shutdown_report`. [`Pool::new`] makes a pool that is a
/// root set of its own.
///
/// Each run happens in a `"task"` span whose `task.name` is the pool's name, its error
/// (other than [`ContextError::Canceled`]) or panic is reported there as one ERROR event,
/// and a panic never takes the process down. On top of that, [`wait`](Pool::wait) hands
/// the failures back, each with the name of its task (the runner's
/// [`name`](Runner::name), or the pool's).
///
/// A failed run escalates as a run of the set the pool was made from does (that set's
/// [`on_failure`](Tasks::on_failure) and [`on_panic`](Tasks::on_panic)). With
/// [`cancel_on_error(true)`](Pool::cancel_on_error) instead, the first failure shuts the
/// pool's own set down: the runs in flight see their context canceled, and no run is
/// admitted any more.
///
/// `Pool` is a cheap handle, as [`Tasks`] is: clones share the same slots, queue and set
/// (hand one to a task, or to a web framework's state). Configure it before cloning:
/// [`max_concurrency`](Pool::max_concurrency) and [`queue`](Pool::queue) called on a clone
/// give that clone slots or a queue of its own, while
/// [`cancel_on_error`](Pool::cancel_on_error) and [`with_root_spans`](Pool::with_root_spans)
/// set the policy of the set every clone shares.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{sleep, Context, Func};
/// use async_tasks::pool::Pool;
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
#[derive(Clone)]
pub struct Pool {
    /// The pool's own set, which keeps its runs' failures.
    tasks: Tasks,
    /// One permit per slot.
    slots: Arc<Semaphore>,
    max: usize,
    /// How many accepted jobs may wait for a slot ([`Pool::queue`]); one permit per place
    /// in the queue, held by each job waiting there.
    queue: usize,
    places: Arc<Semaphore>,
}

impl Tasks {
    /// A pool of at most `max_concurrency` runs at once, named `name`, whose runs are this
    /// set's: a [child](Tasks::child) set of this one that only a [`Pool`] starts runs on
    /// (its path is `svc/jobs`).
    ///
    /// This set's close, drain, shutdown and report reach the pool's runs, and its
    /// snapshot, report, `running` and `wait` count them; the pool can also be waited for
    /// ([`Pool::wait`], which returns its failures) on its own.
    ///
    /// # Panics
    ///
    /// If `max_concurrency` is 0: such a pool could never run anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::task::TaskKind;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let svc = Tasks::new("svc");
    /// let jobs = svc.pool("jobs", 4);
    /// let ctx = Context::background();
    /// jobs.run(&ctx, Func::named("stubborn", |_ctx| async {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await; // ignores its context
    ///     Ok(())
    /// }))
    /// .await
    /// .unwrap();
    /// assert_eq!(svc.snapshot().tasks[0].kind, TaskKind::Pool);
    ///
    /// let report = svc.shutdown_report(Duration::from_secs(5)).await;
    /// assert_eq!(report.aborted, ["jobs/stubborn"]);
    /// assert_eq!(jobs.running(), 0);
    /// # }
    /// ```
    #[must_use]
    #[track_caller]
    pub fn pool(&self, name: impl Into<String>, max_concurrency: usize) -> Pool {
        Pool::with_set(Tasks::pool_set(name.into(), Some(self))).max_concurrency(max_concurrency)
    }
}

impl Pool {
    /// An empty pool named `name`, a root set of its own, with no bound on concurrency
    /// until [`max_concurrency`](Pool::max_concurrency) sets one, and that does not cancel
    /// on error. [`Tasks::pool`] makes a pool inside a set.
    ///
    /// Needs no runtime: the tasks are spawned on the runtime current at each
    /// [`run`](Pool::run).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = async_tasks::pool::Pool::new("resize-images").max_concurrency(4);
    /// assert_eq!(pool.name(), "resize-images");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Pool {
        Pool::with_set(Tasks::pool_set(name.into(), None))
    }

    fn with_set(tasks: Tasks) -> Pool {
        Pool {
            tasks,
            slots: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            max: Semaphore::MAX_PERMITS,
            queue: 0,
            places: Arc::new(Semaphore::new(0)),
        }
    }

    /// Lets at most `n` runs be in flight at once; [`run`](Pool::run) waits for a slot
    /// beyond that.
    ///
    /// Set it before the first run: runs already admitted keep the slots of the bound they
    /// were admitted under. A bound above tokio's
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS) is lowered to it.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0: such a pool could never run anything.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = async_tasks::pool::Pool::new("uploads").max_concurrency(8);
    /// assert!(format!("{pool:?}").contains("max_concurrency: 8"));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn max_concurrency(mut self, n: usize) -> Pool {
        assert!(
            n > 0,
            "`Pool::max_concurrency(0)` for pool `{}`: a pool needs at least one slot",
            self.tasks.path()
        );
        let n = n.min(Semaphore::MAX_PERMITS);
        self.slots = Arc::new(Semaphore::new(n));
        self.max = n;
        self
    }

    /// Lets up to `n` jobs that [`try_spawn`](Pool::try_spawn) accepts wait for a slot,
    /// beyond the [`max_concurrency`](Pool::max_concurrency) that run: a queue in front of
    /// the pool, for callers that cannot wait (an HTTP handler). A full queue refuses with
    /// [`AdmitError::Full`]. Without it (`0`, the default), `try_spawn` only starts a job
    /// when a slot is free. [`run`](Pool::run) and [`spawn`](Pool::spawn) wait for room as
    /// before, behind the queued jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = async_tasks::pool::Pool::new("jobs").max_concurrency(4).queue(100);
    /// assert!(format!("{pool:?}").contains("queue: 100"));
    /// ```
    #[must_use]
    pub fn queue(mut self, n: usize) -> Pool {
        let n = n.min(Semaphore::MAX_PERMITS);
        self.places = Arc::new(Semaphore::new(n));
        self.queue = n;
        self
    }

    /// How many accepted jobs wait in the [`queue`](Pool::queue) for a slot now.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue - self.places.available_permits()
    }

    /// With `true`, the first run that fails (an error of class
    /// [`ErrorClass::Error`](crate::task::ErrorClass::Error), or a panic) shuts the pool's set
    /// down: every run in flight sees its context canceled, with that failure (a
    /// [`TaskError`](crate::task::TaskError)) as the context's [cause](Context::cause), and runs
    /// waiting for a slot, and every later [`run`](Pool::run), return
    /// [`AdmitError::Closed`]. The pool stays closed; make a new one to start over. (The
    /// same as [`Tasks::on_failure`] and [`Tasks::on_panic`] with
    /// [`OnFailure::ShutdownSet`] on the pool's set.)
    ///
    /// The failure still comes out of [`wait`](Pool::wait); the cancellations it causes do
    /// not, as cancellations are not errors.
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
    ///     Err(AdmitError::Closed)
    /// );
    /// # }
    /// ```
    #[must_use]
    pub fn cancel_on_error(mut self, yes: bool) -> Pool {
        let action = if yes {
            OnFailure::ShutdownSet
        } else {
            OnFailure::Report
        };
        self.tasks = self.tasks.on_failure(action).on_panic(action);
        self
    }

    /// Makes each run of the pool the root of a trace of its own, with a `follows_from`
    /// link to the span that started it: see [`Tasks::with_root_spans`]. What a job queue
    /// wants, so that every job is one trace.
    ///
    /// # Examples
    ///
    /// ```
    /// let svc = async_tasks::Tasks::new("svc");
    /// let jobs = svc.pool("jobs", 4).with_root_spans();
    /// # drop(jobs);
    /// ```
    #[must_use]
    pub fn with_root_spans(mut self) -> Pool {
        self.tasks = self.tasks.with_root_spans();
        self
    }

    /// The pool's name: the `task.name` of its runs' spans, and the name of failures of
    /// runners without a [`name`](Runner::name) of their own.
    #[must_use]
    pub fn name(&self) -> &str {
        self.tasks.name()
    }

    /// The pool's set: to [`close`](Tasks::close), [`drain`](Tasks::drain) or
    /// [`shutdown`](Tasks::shutdown) the pool alone, or to look at it.
    ///
    /// # Examples
    ///
    /// ```
    /// let svc = async_tasks::Tasks::new("svc");
    /// let pool = svc.pool("jobs", 2);
    /// assert_eq!(pool.tasks().path(), "svc/jobs");
    /// ```
    #[must_use]
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// How many admitted runs have not finished yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func};
    /// use async_tasks::pool::Pool;
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

    /// Whether the pool admits nothing any more: its set (or a parent set) was closed,
    /// drained or shut down, or a failure shut it down under
    /// [`cancel_on_error`](Pool::cancel_on_error).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tasks.is_closed()
    }

    /// What the pool is running now, as [`Tasks::snapshot`] says it: every run (kind
    /// [`TaskKind::Pool`]), by its runner's name or the pool's.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func};
    /// use async_tasks::pool::Pool;
    /// use async_tasks::task::TaskKind;
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
    /// let names: Vec<&str> = snapshot.tasks.iter().map(|t| t.name.as_str()).collect();
    /// assert_eq!(names, ["batch-7", "imports"]);
    /// assert_eq!(snapshot.tasks[0].kind, TaskKind::Pool);
    /// cancel.cancel();
    /// pool.wait().await.unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> crate::task::Snapshot {
        self.tasks.snapshot()
    }

    /// Waits for a free slot, then runs `runner` once in a new tokio task, as
    /// [`Tasks::run`] does (its span, its error report, its caught panic), and returns as
    /// soon as the task is started.
    ///
    /// The runner's context is a child of `ctx` and of the pool's set. Its slot is given
    /// back when the run ends.
    ///
    /// # Errors
    ///
    /// Without running `runner`, which is dropped unrun (a runner holds no more than the
    /// arguments it was built with: keep what must not be lost, such as a job taken from a
    /// queue, outside it, and check [`is_closed`](Pool::is_closed) or
    /// [`Context::is_closing`] before taking it):
    /// - [`AdmitError::Closed`] if the pool is closed ([`Tasks::close`],
    ///   [`Tasks::drain`] or [`Tasks::shutdown`] of its set or a parent, or a failure under
    ///   [`cancel_on_error`](Pool::cancel_on_error)), before or while it waits for a slot;
    /// - [`AdmitError::Context`] with `ctx`'s error if `ctx` is done before a slot is free
    ///   (also when it is done already, even with a slot free, as
    ///   [`MutexWithContext::lock`](crate::sync::MutexWithContext::lock) does, and when it ends
    ///   just as the slot comes).
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
    /// use async_tasks::{Context, Func};
    /// use async_tasks::context::ContextError;
    /// use async_tasks::pool::{AdmitError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::new("p").max_concurrency(1);
    /// let ctx = Context::background();
    /// // Takes the only slot until the context of the run is canceled.
    /// let (busy, stop) = ctx.with_cancel();
    /// pool.run(&busy, Func::new(|ctx| async move { ctx.done().await; Ok(()) })).await.unwrap();
    ///
    /// // A run that will not wait more than a second for a slot.
    /// let (impatient, _cancel) = ctx.with_timeout(Duration::from_secs(1));
    /// let refused = pool.run(&impatient, Func::new(|_ctx| async { Ok(()) })).await;
    /// assert_eq!(refused, Err(AdmitError::Context(ContextError::DeadlineExceeded)));
    ///
    /// stop.cancel();
    /// pool.wait().await.unwrap();
    /// pool.tasks().close();
    /// let closed = pool.run(&ctx, Func::new(|_ctx| async { Ok(()) })).await.unwrap_err();
    /// assert_eq!(closed, AdmitError::Closed);
    /// assert_eq!(closed.to_string(), "the pool is closed: it admits no new runs");
    /// # }
    /// ```
    pub async fn run<R: Runner + 'static>(
        &self,
        ctx: &Context,
        runner: R,
    ) -> Result<(), AdmitError> {
        let admitted = self.admit_runner(ctx, runner).await?;
        self.tasks.run_listed(TaskKind::Pool, ctx, admitted);
        Ok(())
    }

    /// Waits for a free slot, then runs `f` once in a new tokio task named `name`, as
    /// [`Tasks::spawn`] does (its span, its report, its handle), and returns its
    /// [`TaskHandle`] as soon as the task is started.
    ///
    /// The one-shot form of [`run`](Pool::run), for work that owns what it uses and returns
    /// a value, or that goes by a name of its own (`format!("job-{id}")`): shutdown reports
    /// and snapshots name each run, and its handle can await or abort it. Its slot is given
    /// back when the task ends; a failure also comes out of [`wait`](Pool::wait). A
    /// [`Runner`] is spawned through a closure:
    /// `move |ctx| async move { runner.run(ctx).await }`.
    ///
    /// # Errors
    ///
    /// As for [`run`](Pool::run): [`AdmitError::Closed`] or [`AdmitError::Context`],
    /// without calling `f`, which is dropped.
    ///
    /// # Cancel safety
    ///
    /// As for [`run`](Pool::run): a dropped future either started the task or took no slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{BoxError, Context};
    /// use async_tasks::pool::Pool;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("resize").max_concurrency(2);
    /// let ctx = Context::background();
    /// let mut handles = Vec::new();
    /// for id in 1..=3_u32 {
    ///     let handle = pool
    ///         .spawn(&ctx, format!("image-{id}"), move |_ctx| async move {
    ///             Ok::<_, BoxError>(id * 100)
    ///         })
    ///         .await
    ///         .unwrap();
    ///     handles.push(handle);
    /// }
    /// let mut sizes = Vec::new();
    /// for handle in handles {
    ///     sizes.push(handle.await.unwrap());
    /// }
    /// assert_eq!(sizes, [100, 200, 300]);
    /// # }
    /// ```
    pub async fn spawn<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Result<TaskHandle<T>, AdmitError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let permit = self.admit(ctx).await?;
        Ok(self.spawn_admitted(ctx, name.into(), permit, f))
    }

    /// Accepts `f` at once, without waiting: runs it in a new tokio task named `name` if a
    /// slot is free, as [`spawn`](Pool::spawn) does; otherwise, if the pool has a
    /// [`queue`](Pool::queue) with room, queues it to start as soon as a slot frees (in the
    /// order jobs were accepted, and before a [`spawn`](Pool::spawn) that waits for room);
    /// otherwise refuses it. Not `async`: what an HTTP handler calls to hand a job to a pool.
    ///
    /// An accepted job is a full task of the pool from now on, queued or not: listed in
    /// [`snapshot`](Pool::snapshot) ([`TaskInfo::queued`](crate::task::TaskInfo::queued)
    /// while it waits), counted in [`running`](Pool::running) and waited for by
    /// [`wait`](Pool::wait) and a drain. A drain lets the queued jobs run (they were
    /// accepted); a shutdown cancels them before they start, and their handles say
    /// [`is_canceled`](crate::task::TaskError::is_canceled), as does the report
    /// ([`ShutdownReport::canceled`](crate::task::ShutdownReport::canceled)).
    ///
    /// # Errors
    ///
    /// Without calling `f`, which is dropped:
    /// - [`AdmitError::Full`] if no slot is free and the queue is full (or there is none);
    /// - [`AdmitError::Closed`] if the pool is closed;
    /// - [`AdmitError::Context`] with `ctx`'s error if it is done already.
    ///
    /// A job accepted into the queue whose `ctx` ends before its slot comes ends canceled
    /// (or failed with the deadline), without calling `f`.
    ///
    /// A [`Runner`] (an `#[async_task]` fn's) is a job too, through a closure:
    /// `pool.try_spawn(&ctx, "refresh", move |ctx| async move { runner.run(ctx).await })`
    /// (with `Runner` in scope), as with [`spawn`](Pool::spawn).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{BoxError, Context};
    /// use async_tasks::pool::{AdmitError, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("jobs").max_concurrency(1).queue(1);
    /// let ctx = Context::background();
    /// let job = |id: u32| move |_ctx: Context| async move { Ok::<_, BoxError>(id) };
    /// let first = pool.try_spawn(&ctx, "job-1", job(1)).unwrap(); // takes the slot
    /// let second = pool.try_spawn(&ctx, "job-2", job(2)).unwrap(); // waits in the queue
    /// assert!(pool.snapshot().tasks[1].queued);
    /// assert_eq!(pool.try_spawn(&ctx, "job-3", job(3)).unwrap_err(), AdmitError::Full);
    /// assert_eq!((first.await.unwrap(), second.await.unwrap()), (1, 2));
    /// # }
    /// ```
    #[track_caller]
    pub fn try_spawn<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Result<TaskHandle<T>, AdmitError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        self.accept(ctx, name.into(), f)
    }

    /// Waits until every admitted run has finished, then returns the failures not returned
    /// before.
    ///
    /// Like [`Tasks::wait`], it returns once no run is in flight, so it also waits for runs
    /// admitted while it waits; it can be called again after more runs, and returns each
    /// failure once.
    ///
    /// The pool keeps each failure (its [`TaskError`](crate::task::TaskError)) until `wait` takes
    /// it, so that none is lost: a pool that lives as long as its service and is never
    /// waited for keeps every failure of its life. Such a pool relies on the ERROR event each
    /// failure is reported with anyway; call `wait` from time to time (a dispatcher between
    /// batches) to hand them on and let them go.
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
    /// use async_tasks::{Context, Func};
    /// use async_tasks::pool::Pool;
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
        let errors = self.tasks.take_failures();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PoolErrors {
                pool: self.tasks.path().to_owned(),
                errors,
            })
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("path", &self.tasks.path())
            .field("max_concurrency", &self.max)
            .field("running", &self.running())
            .field("free_slots", &self.slots.available_permits())
            .field("queue", &self.queue)
            .field("queued", &self.queued())
            .field(
                "cancel_on_error",
                &(self.tasks.failure_action() == OnFailure::ShutdownSet),
            )
            .field("closed", &self.is_closed())
            .finish()
    }
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
}
