//! [`Tasks`]: a named set of tasks, in a tree of sets — runs runners as traced tokio tasks,
//! waits for them, drains and shuts them down.
//!
//! The handle is here; what a set is lives in `set.rs` (its shared state), how one task
//! runs in `supervise.rs`, how it is started in `run.rs`, what is listed in `listing.rs`;
//! each way of starting work has a file (`looping.rs`, `spawn.rs`, `default.rs`), and so
//! has each way of ending it (`shutdown.rs`, `shutdown_report.rs`), of looking at it
//! (`snapshot.rs`) and of escalating a failure (`escalation.rs`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::error_class::ErrorClass;
use super::escalation::OnFailure;
use super::handle::TaskHandle;
use super::listing::{LoopStats, TaskName};
use super::looping::start_loop;
use super::policy::LoopPolicy;
use super::set::{Collecting, Set};
use super::shutdown::{ShutdownTimeout, cancel_all};
use super::shutdown_report::{ShutdownReport, report};
#[cfg(all(feature = "signal", any(unix, windows)))]
use super::signal::watch_signals;
use super::singleton::start_singleton;
use super::snapshot::{Snapshot, TaskKind};
use super::span::{root_task_span, task_span};
use super::start::{Listed, start_closure, start_runner, task_name};
use super::task_error::TaskError;
use super::wait::{wait_checked, wait_for};
use crate::context::Context;
use crate::lease::Lease;
#[cfg(doc)]
use crate::lease::{LeaseLost, Term};
use crate::runner::{BoxError, Runner};

/// A named set of tasks: runs [`Runner`]s in the background, each in its own tracing span,
/// waits for them all, drains and shuts them down. Sets nest: a service is a tree of them.
///
/// Go's `async.Tasks`, with more: panics are caught and reported instead of
/// killing the process; [`drain`](Tasks::drain) lets the work in flight finish while
/// nothing new starts; [`shutdown`](Tasks::shutdown) cancels every task and waits for them
/// with a grace period, and [`shutdown_report`](Tasks::shutdown_report) aborts the
/// stragglers and says who did what; [`child`](Tasks::child) sets and
/// [`pool`](Tasks::pool)s are covered by all of it.
///
/// Every run happens inside a span named `"task"` at INFO, with fields `task.name` and
/// `otel.name` set to this set's name (so OpenTelemetry shows the run under that name). A
/// run that fails with an error other than a
/// [`ContextError::Canceled`](crate::context::ContextError::Canceled) is reported as one ERROR event
/// with an `error` field; a panic as one ERROR event with a `panic` field; both also set
/// `otel.status_code = "ERROR"` and `otel.status_description` on the span. The events have
/// the target `async_tasks`, and name the task (`task`, the runner's name or the set's) and
/// its set (`tasks`, the set's path).
///
/// Each task's context is a child of both the caller's context and this set's own
/// context: it is done when the caller's context is, or when this set shuts down — not when
/// the run that started the task returns (a context ends only by its
/// [`CancelHandle`](crate::context::CancelHandle), its deadline or a parent's). A job that
/// must outlive the request or iteration that started it is handed a context that lives as
/// long as it should (the set's own, [`Tasks::context`], or [`Context::background`]).
/// `Tasks` is a cheap handle: clones share the same set. Dropping it neither
/// cancels nor detaches anything; the tasks run on, and keep what they need of the set.
///
/// [`Tasks::new`] needs no runtime; each task is spawned on the tokio runtime current at the
/// `run*()` call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{sleep, Context, Func, Tasks};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = Tasks::new("example");
/// let (ctx, cancel) = Context::background().with_cancel();
///
/// tasks.run(&ctx, Func::new(|_ctx| async {
///     println!("Run example");
///     Ok(())
/// }));
/// tasks.run_loop(&ctx, Func::new(|ctx| async move {
///     sleep(&ctx, Duration::from_secs(1)).await?; // a poller's pause
///     Ok(())
/// }));
///
/// sleep(&ctx, Duration::from_secs(3)).await.unwrap();
/// cancel.cancel();
/// tasks.wait().await;
/// assert_eq!(tasks.running(), 0);
/// # }
/// ```
///
/// # Comparison to `TaskTracker` and `JoinSet`
///
/// A set is built on tokio-util's [`TaskTracker`](tokio_util::task::TaskTracker), which
/// counts its tasks and waits for them; what it adds is what a service needs around that
/// count:
///
/// - **A context per task.** `TaskTracker` does not stop anything; a set gives each task a
///   [`Context`] joined to the set's own, so that [`close`](Tasks::close),
///   [`drain`](Tasks::drain) and [`shutdown`](Tasks::shutdown) reach every task, and those
///   started later, without a `CancellationToken` threaded by hand.
/// - **Supervision.** A `JoinSet` hands each task's panic or error back to whoever joins
///   it, and a `TaskTracker` to nobody; a set catches, reports and traces them as they
///   happen, and can [escalate](Tasks::on_failure) them.
/// - **Names.** A `JoinSet` knows task ids; a set lists its tasks by name
///   ([`snapshot`](Tasks::snapshot)) and says at shutdown which finished, were canceled,
///   failed, panicked or had to be aborted ([`shutdown_report`](Tasks::shutdown_report)).
/// - **A tree.** Sets nest ([`child`](Tasks::child), [`pool`](Tasks::pool)), and a
///   parent's `wait`, `running`, `snapshot` and shutdowns cover its children.
///
/// What a set leaves to tokio: the results of one-shot work come back through a
/// [`TaskHandle`] (see [`spawn`](Tasks::spawn)), not from the set; `JoinSet::join_next`'s
/// "whichever ends first" is a `FuturesUnordered` of handles. Waiting follows Go's
/// `WaitGroup`: [`wait`](Tasks::wait) returns whenever nothing runs, and can be called
/// again (a `TaskTracker` here is closed for good at creation).
#[derive(Clone)]
pub struct Tasks {
    pub(super) set: Arc<Set>,
}

impl Tasks {
    /// An empty set of tasks named `name`, the root of a tree of its own. Needs no runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let tasks = async_tasks::Tasks::new("workers");
    /// assert_eq!(tasks.name(), "workers");
    /// assert_eq!(tasks.running(), 0);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Tasks {
        Tasks {
            set: Set::new(name.into(), None, false),
        }
    }

    /// A child set named `name`: its own tasks, name, [classes](Tasks::with_error_classes)
    /// and [escalation](Tasks::on_failure), under this set.
    ///
    /// Its context is a child of this set's, so this set's [`close`](Tasks::close),
    /// [`drain`](Tasks::drain), [`shutdown`](Tasks::shutdown) and
    /// [`shutdown_report`](Tasks::shutdown_report) reach its tasks too, and this set's
    /// [`wait`](Tasks::wait), [`running`](Tasks::running) and
    /// [`snapshot`](Tasks::snapshot) count them; the child can be closed, drained or shut
    /// down alone, without touching this set or its other children. Its runs are reported
    /// with its name, and its path (`svc/jobs`) in the events' `tasks` field. Without
    /// classes of its own, it classes errors as this set does; escalation is not inherited.
    ///
    /// Children nest to any depth. A child created after this set was closed or shut down
    /// is born closed or shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let svc = Tasks::new("svc");
    /// let jobs = svc.child("jobs");
    /// assert_eq!(jobs.path(), "svc/jobs");
    /// jobs.run(&Context::background(), Func::named("import", |ctx| async move {
    ///     ctx.done().await;
    ///     Ok(())
    /// }));
    /// assert_eq!(svc.running(), 1); // the parent counts its children's tasks
    ///
    /// jobs.shutdown(Duration::from_secs(1)).await.unwrap(); // the child alone
    /// assert!(!svc.is_closed());
    /// assert_eq!(svc.running(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn child(&self, name: impl Into<String>) -> Tasks {
        Tasks {
            set: Set::new(name.into(), Some(&self.set), false),
        }
    }

    /// Says how this set reports failed runs: `classes` maps each error (other than a
    /// cancellation) to an [`ErrorClass`] — report it as an ERROR (the default for every
    /// error without this), as a WARN without failing the span (a client error), or not at
    /// all (an expected outcome). `#[async_task]` call spans inside this set's runs follow
    /// the same classes, and so do child sets without classes of their own. Panics are
    /// always errors.
    ///
    /// The class only changes the report: a failed run is still failed (a loop still stops,
    /// or retries under its [`LoopPolicy`]); only an error of class
    /// [`ErrorClass::Error`] [escalates](Tasks::on_failure).
    ///
    /// The set keeps the classifier for as long as it has runs, even when the last handle
    /// to it is dropped. Calling this again replaces the classes, for the runs that fail
    /// from then on. A classifier that panics is reported once, and the error it was
    /// classing is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::task::ErrorClass;
    ///
    /// #[derive(Debug)]
    /// enum ApiError {
    ///     NotFound,
    ///     Upstream(String),
    /// }
    /// # impl std::fmt::Display for ApiError {
    /// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    /// #         match self {
    /// #             ApiError::NotFound => f.write_str("not found"),
    /// #             ApiError::Upstream(status) => write!(f, "upstream answered {status}"),
    /// #         }
    /// #     }
    /// # }
    /// # impl std::error::Error for ApiError {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("api").with_error_classes(|err| match err.downcast_ref() {
    ///     Some(ApiError::NotFound) => ErrorClass::Warn,
    ///     Some(ApiError::Upstream(_)) | None => ErrorClass::Error,
    /// });
    /// let ctx = Context::background();
    /// tasks.run(&ctx, Func::named("lookup", |_ctx| async {
    ///     Err(ApiError::NotFound.into()) // a WARN; the span is not failed
    /// }));
    /// tasks.run(&ctx, Func::named("sync", |_ctx| async {
    ///     Err(ApiError::Upstream("503".into()).into()) // an ERROR
    /// }));
    /// tasks.wait().await;
    /// # }
    /// ```
    #[must_use]
    pub fn with_error_classes<F>(self, classes: F) -> Tasks
    where
        F: Fn(&(dyn std::error::Error + 'static)) -> ErrorClass + Send + Sync + 'static,
    {
        self.set.set_classes(Arc::new(classes));
        self
    }

    /// A set that keeps its runs' failures, for a pool: a child of `parent`, or a root.
    pub(crate) fn pool_set(name: String, parent: Option<&Tasks>) -> Tasks {
        Tasks {
            set: Set::new(name, parent.map(|parent| &parent.set), true),
        }
    }

    /// The failures this (pool's) set kept since the last call, in the order they happened.
    pub(crate) fn take_failures(&self) -> Vec<TaskError> {
        self.set.take_failures()
    }

    /// `run`, always listed (by the runner's name, or the set's) as `kind`: a pool's runs.
    #[track_caller]
    pub(crate) fn run_listed<R: Runner + 'static>(&self, kind: TaskKind, ctx: &Context, runner: R) {
        let name = runner.name();
        let listed = Listed::new(task_name(&self.set, name), kind);
        let (ctx, span) = (ctx.join(&self.set.ctx), task_span(&self.set));
        start_runner(&self.set, runner, name, Some(listed), ctx, span);
    }

    /// `spawn`, listed as `kind` with the live stats it tells the listing: a pool's spawned
    /// runs are its runs.
    #[track_caller]
    pub(crate) fn spawn_as<F, Fut, T, E>(
        &self,
        listed: (TaskKind, Option<Arc<LoopStats>>),
        ctx: &Context,
        name: Cow<'static, str>,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        start_closure(&self.set, listed, ctx, name, f)
    }

    /// Says what a failed run of this set does beyond its report: see [`OnFailure`].
    ///
    /// A failure here is a run that returned an error of class
    /// [`ErrorClass::Error`] (a cancellation is not a failure, and
    /// an error its [classes](Tasks::with_error_classes) call a warning or ignore does not
    /// escalate). A loop run with a [`LoopPolicy`] that retries fails
    /// only when the policy gives up. Panics are set apart, with
    /// [`on_panic`](Tasks::on_panic).
    ///
    /// Set per set: a child set does not take its parent's, but a [`pool`](Tasks::pool) made
    /// from this set does (its runs are this set's runs), unless it is told
    /// [`cancel_on_error`](crate::pool::Pool::cancel_on_error). Calling it again replaces the
    /// action.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, TaskError, Tasks};
    /// use async_tasks::task::OnFailure;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = Tasks::new("svc");
    /// let db = svc.child("db").on_failure(OnFailure::ShutdownRoot);
    /// let ctx = Context::background();
    /// svc.run(&ctx, Func::named("api", |ctx| async move {
    ///     ctx.done().await; // serves until the service stops
    ///     let cause = ctx.cause().unwrap();
    ///     assert_eq!(cause.to_string(), "db-loop: connection refused");
    ///     assert!(cause.is::<TaskError>());
    ///     Ok(())
    /// }));
    /// db.run_loop(&ctx, Func::named("db-loop", |_ctx| async {
    ///     Err("connection refused".into())
    /// }));
    /// svc.context().done().await; // what a `main` waits on, beside its signals
    /// let report = svc.shutdown_report(std::time::Duration::from_secs(5)).await;
    /// assert_eq!(report.cause.unwrap().to_string(), "db/db-loop: connection refused");
    /// # }
    /// ```
    #[must_use]
    pub fn on_failure(self, action: OnFailure) -> Tasks {
        self.set.set_on_failure(action, false);
        self
    }

    /// What a failed run of this set does beyond its report, as last set by
    /// [`on_failure`](Tasks::on_failure).
    pub(crate) fn failure_action(&self) -> OnFailure {
        self.set.on_failure()
    }

    /// Says what a run of this set that panics does beyond its report: see [`OnFailure`]
    /// and [`on_failure`](Tasks::on_failure). A panic is a bug, not a failure to retry: a
    /// loop escalates its panic at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::task::OnFailure;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc").on_panic(OnFailure::ShutdownSet);
    /// tasks.run(&Context::background(), Func::named("buggy", |_ctx| async {
    ///     panic!("index out of bounds")
    /// }));
    /// tasks.context().done().await;
    /// let cause = tasks.context().cause().unwrap();
    /// assert_eq!(cause.to_string(), "buggy panicked: index out of bounds");
    /// # }
    /// ```
    #[must_use]
    pub fn on_panic(self, action: OnFailure) -> Tasks {
        self.set.set_on_failure(action, true);
        self
    }

    /// Makes each run of this set, and of its child sets and pools, the root of a trace of
    /// its own, with a `follows_from` link to the span that started it (OpenTelemetry
    /// exports it as a span link), instead of a child of that span.
    ///
    /// For a set whose runs are independent units of work — a job queue, the requests a
    /// server handles — so that each is one trace, rather than every job of the service's
    /// life sitting in the trace of the dispatcher that started it (which ends only at
    /// shutdown), and console lines do not carry the dispatcher's span as a prefix. A loop's
    /// iterations each start a trace of their own too.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::testing::SpanRecorder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let recorder = SpanRecorder::install();
    /// let jobs = Tasks::new("jobs").with_root_spans();
    /// let dispatcher = tracing::info_span!("dispatcher");
    /// dispatcher.in_scope(|| jobs.run(&Context::background(), Func::new(|_ctx| async { Ok(()) })));
    /// jobs.wait().await;
    /// let job = recorder.span("task");
    /// assert!(job.parent().is_none()); // a trace of its own...
    /// assert_eq!(job.follows_from()[0].name(), "dispatcher"); // ...linked to its start
    /// # }
    /// ```
    #[must_use]
    pub fn with_root_spans(self) -> Tasks {
        self.set.set_root_spans();
        self
    }

    /// This set's name: the `task.name` and `otel.name` of its spans.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.set.name
    }

    /// This set's path: the names from the root set down to this one, joined by `/`
    /// (`svc/jobs`). A root set's path is its name.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.set.path
    }

    /// This set's own context: the parent of every task's context. It is closing once the
    /// set closes, and done once the set shuts down — by [`shutdown`](Tasks::shutdown), by a
    /// parent set's, or by a failure [escalated](Tasks::on_failure) to it, whose
    /// [`TaskError`] is then its [cause](Context::cause).
    ///
    /// What a service's `main` waits on beside its signals, to stop when the service's own
    /// tasks say so.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::Tasks;
    /// use async_tasks::task::ShuttingDown;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let ctx = tasks.context();
    /// assert!(!ctx.is_done());
    /// tasks.shutdown(Duration::from_secs(1)).await.unwrap();
    /// assert!(ctx.cause().unwrap().is::<ShuttingDown>());
    /// # }
    /// ```
    #[must_use]
    pub fn context(&self) -> Context {
        self.set.ctx.clone()
    }

    /// Runs `runner` once in a new tokio task, as Go's `Tasks.Run`.
    ///
    /// The run gets a context that is a child of `ctx` and of this set's (done when either
    /// is: not when the run or iteration that called this returns), and a `"task"` span
    /// whose parent is the span current here. The runner runs even if `ctx` is done
    /// already (it sees the error, as in Go), or this set is closed. The task counts in
    /// [`running`](Tasks::running) from the moment this returns.
    ///
    /// A runner is called through `&self`, so that a loop can run it again. One-shot work
    /// that owns what it uses (a channel's receiver), returns a result, or goes by a name
    /// made at run time goes to [`spawn`](Tasks::spawn) instead, which also takes a runner:
    /// `tasks.spawn(&ctx, format!("job-{id}"), move |ctx| async move { runner.run(ctx).await })`.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime ("there is no reactor running, must be
    /// called from the context of a Tokio 1.x runtime"). A panic inside `runner` does not
    /// propagate: it is caught and reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("example");
    /// tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    /// assert_eq!(tasks.running(), 1);
    /// tasks.wait().await;
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    #[track_caller]
    pub fn run<R: Runner + 'static>(&self, ctx: &Context, runner: R) {
        let name = runner.name();
        // Unnamed one-shot runs are the hot path: counted, not listed (see listing.rs).
        let listed = name.map(|name| Listed::new(TaskName::Static(name), TaskKind::Run));
        // Contextual parent: the span current here, without cloning it.
        let (ctx, span) = (ctx.join(&self.set.ctx), task_span(&self.set));
        start_runner(&self.set, runner, name, listed, ctx, span);
    }

    /// Runs `runner` once in a new tokio task, detached from `ctx`, as Go's
    /// `RunBackground`.
    ///
    /// The runner's context has no deadline and is closed and canceled only by this set
    /// (and its parents); canceling `ctx` does not reach it. Its span starts a new trace
    /// (no parent), with a `follows_from` link to the span current here.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("example");
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// tasks.run_background(&ctx, Func::new(move |ctx| {
    ///     cancel.cancel(); // canceling the caller's context...
    ///     async move {
    ///         assert_eq!(ctx.err(), None); // ...does not reach the task
    ///         Ok(())
    ///     }
    /// }));
    /// tasks.wait().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn run_background<R: Runner + 'static>(&self, _ctx: &Context, runner: R) {
        let name = runner.name();
        let listed = Listed::new(task_name(&self.set, name), TaskKind::Background);
        let span = root_task_span(&self.set);
        span.follows_from(tracing::Span::current());
        let ctx = self.set.ctx.clone();
        start_runner(&self.set, runner, name, Some(listed), ctx, span);
    }

    /// Runs `f` once in a new tokio task named `name`, and returns a [`TaskHandle`] to its
    /// result: `tokio::spawn` as a member of this set.
    ///
    /// `f` is called once, with the run's context (a child of `ctx` and of this set's, as
    /// for [`run`](Tasks::run)), so it can own what it uses — a channel's receiver, a
    /// connection — and return a value. `name` is a `&'static str` or a `String`
    /// (`format!("job-{id}")`).
    ///
    /// The task is a full member of the set: it runs in a `"task"` span (whose `task` field
    /// is its name, beside the set's `task.name`), is listed by its name in [`snapshot`](Tasks::snapshot) and
    /// [`shutdown_report`](Tasks::shutdown_report) (kind [`TaskKind::Spawned`]), counts in
    /// [`running`](Tasks::running), is closed, drained, canceled and, at the end of a
    /// report's grace period, aborted with the rest of the set. Its failure is reported
    /// like any other run's — one ERROR event — even though the handle returns it too: the
    /// handle may be dropped, or awaited long after, and the trace should say when and
    /// where the task failed whoever reads the result.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime. A panic in `f` (also before it returns
    /// its future) does not propagate: it is caught, reported, and returned by the handle.
    ///
    /// # Examples
    ///
    /// A dispatcher that owns its channel's receiver:
    ///
    /// ```
    /// use async_tasks::{BoxError, Context, Tasks};
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let (jobs, mut queue) = mpsc::channel::<u32>(16);
    /// let dispatcher = tasks.spawn(&Context::background(), "dispatcher", move |_ctx| async move {
    ///     let mut total = 0;
    ///     while let Some(job) = queue.recv().await {
    ///         total += job;
    ///     }
    ///     Ok::<_, BoxError>(total)
    /// });
    /// for job in 1..=3 {
    ///     jobs.send(job).await.unwrap();
    /// }
    /// drop(jobs);
    /// assert_eq!(dispatcher.await.unwrap(), 6);
    ///
    /// let id = 7;
    /// let job = tasks.spawn(&Context::background(), format!("job-{id}"), |_ctx| async {
    ///     Err::<(), _>(std::io::Error::other("disk full"))
    /// });
    /// assert_eq!(job.name(), "job-7");
    /// let err = job.await.unwrap_err();
    /// assert_eq!(err.to_string(), "job-7: disk full");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        start_closure(&self.set, (TaskKind::Spawned, None), ctx, name.into(), f)
    }

    /// Runs `runner` over and over in a new tokio task until its context is done, its set
    /// closes, it fails or it panics, as Go's `Tasks.Loop` (`loop` is a keyword in
    /// Rust).
    ///
    /// The context is checked before each iteration, so a loop whose `ctx` is done already
    /// (or whose set is closed) runs zero times; a loop whose set closes
    /// ([`Tasks::close`], [`Tasks::drain`]) finishes the iteration in flight and starts no
    /// other. Each iteration runs in its own `"task"` span, a child of the span
    /// current here. An error that is [`ContextError::Canceled`](crate::context::ContextError::Canceled) does not stop the loop by
    /// itself (the context check does, as in Go); any other error and any panic are
    /// reported and end it.
    ///
    /// A runner that returns at once does not starve the runtime: each iteration spends
    /// tokio's cooperative budget, so the loop yields when the budget runs out.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("example");
    /// let count = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&count);
    /// tasks.run_loop(&Context::background(), Func::new(move |_ctx| {
    ///     let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
    ///     async move {
    ///         if n == 3 {
    ///             return Err("done after three".into()); // an error ends the loop
    ///         }
    ///         Ok(())
    ///     }
    /// }));
    /// tasks.wait().await;
    /// assert_eq!(count.load(Ordering::SeqCst), 3);
    /// # }
    /// ```
    #[track_caller]
    pub fn run_loop<R: Runner + 'static>(&self, ctx: &Context, runner: R) {
        self.run_loop_with(ctx, runner, LoopPolicy::new());
    }

    /// Runs `runner` over and over in a new tokio task, repeating as `policy` says: with a
    /// pause between iterations, retries after failures with backoff, a limit on failures in
    /// a row. See [`LoopPolicy`].
    ///
    /// Everything else is as for [`run_loop`](Tasks::run_loop) (which is this with
    /// [`LoopPolicy::new`]): the context is checked before each iteration, and each
    /// iteration runs in its own `"task"` span, with an `iteration` field (and `attempt`
    /// when it retries after failures). A failure the policy retries is one WARN event,
    /// `task "NAME" failed: ERROR (retrying in 2s)`, with the `attempt` that failed (1 for
    /// the first failure in a row) and the pause before the next (`retry_in`); the failure
    /// after which the policy gives up is one ERROR event,
    /// `task "NAME" failed: ERROR (3 failures in a row, giving up)`, with the number of
    /// `failures` in a row. A pause
    /// ends early, and the loop with it, when the set closes or the context ends.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::task::LoopPolicy;
    /// use async_tasks::backon::ConstantBuilder;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tasks = Tasks::new("poller");
    /// let policy = LoopPolicy::every(Duration::from_secs(30))
    ///     .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(1)))
    ///     .max_failures(3);
    /// // Fails every time: tried 3 times, 1 s apart, then the loop gives up.
    /// let start = tokio::time::Instant::now();
    /// tasks.run_loop_with(
    ///     &Context::background(),
    ///     Func::new(|_ctx| async { Err("upstream down".into()) }),
    ///     policy,
    /// );
    /// tasks.wait().await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # }
    /// ```
    #[track_caller]
    pub fn run_loop_with<R: Runner + 'static>(&self, ctx: &Context, runner: R, policy: LoopPolicy) {
        start_loop(&self.set, ctx, runner, policy);
    }

    /// Closes this set and its child sets: the work in flight goes on, and no new work is
    /// taken. Tasks see it on their context ([`Context::is_closing`](crate::context::Context::is_closing),
    /// [`Context::closing`](crate::context::Context::closing)).
    ///
    /// After `close`:
    /// - a loop finishes the iteration in flight and starts no other (a loop pausing between
    ///   iterations stops at once);
    /// - a pool of this set admits nothing new: [`Pool::run`](crate::pool::Pool::run),
    ///   [`spawn`](crate::pool::Pool::spawn) and [`try_spawn`](crate::pool::Pool::try_spawn)
    ///   return [`AdmitError::Closed`](crate::pool::AdmitError::Closed) (and drop the job
    ///   unrun); the jobs already in its [queue](crate::pool::Pool::queue) still run;
    /// - one-shot [`run`](Tasks::run), [`run_background`](Tasks::run_background) and
    ///   [`spawn`](Tasks::spawn) still start and run: a task started by a draining task is
    ///   waited for too, so nothing is dropped on the floor.
    ///
    /// Closing is for good: a closed set stays closed. [`shutdown`](Tasks::shutdown)
    /// closes too. Closing a child set leaves its parent and siblings alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Tasks;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let jobs = tasks.child("jobs");
    /// jobs.close();
    /// assert!(jobs.is_closed());
    /// assert!(!tasks.is_closed());
    /// # }
    /// ```
    pub fn close(&self) {
        self.set.close();
    }

    /// Whether this set is closed: by [`close`](Tasks::close), [`drain`](Tasks::drain) or
    /// [`shutdown`](Tasks::shutdown), its own or a parent set's.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.set.ctx.is_closing()
    }

    /// Closes this set (see [`close`](Tasks::close)) and waits up to `timeout` for what is
    /// running to finish — without canceling anything. A
    /// [`shutdown_report`](Tasks::shutdown_report) that follows says who finished, failed
    /// or panicked during the drain too.
    ///
    /// The service idiom, on SIGTERM: let the jobs in flight finish, then cancel what is
    /// left, and say who did what:
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # #[allow(dead_code)]
    /// # async fn on_sigterm(tasks: async_tasks::Tasks) {
    /// tasks.drain(Duration::from_secs(30)).await.ok();
    /// let report = tasks.shutdown_report(Duration::from_secs(5)).await;
    /// println!("{report}");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ShutdownTimeout`], naming the tasks still running when `timeout` ran out. They go
    /// on running: a [`shutdown`](Tasks::shutdown) or
    /// [`shutdown_report`](Tasks::shutdown_report) after it cancels them.
    ///
    /// # Panics
    ///
    /// If called from inside one of the set's own tasks (or a child set's): that task
    /// counts, so it would wait for itself (see [`wait`](Tasks::wait)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the set is closed as soon as this is first polled, and dropping the
    /// future only stops the waiting. What ended while it waited is kept in the set, dropped
    /// or not, for the next [`shutdown_report`](Tasks::shutdown_report) to name; the next
    /// drain replaces it. (One list per drain, not per run: it does not grow with time.) A
    /// report that starts while the drain still waits takes over what it kept so far, and
    /// names what ends from then on itself: each task once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{sleep, Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let ctx = Context::background();
    /// tasks.run(&ctx, Func::named("job", |ctx| async move {
    ///     sleep(&ctx, Duration::from_secs(10)).await?; // in flight: not canceled by a drain
    ///     Ok(())
    /// }));
    /// tasks.run_loop(&ctx, Func::named("poller", |ctx| async move {
    ///     sleep(&ctx, Duration::from_secs(1)).await?; // ends after the iteration in flight
    ///     Ok(())
    /// }));
    /// tasks.drain(Duration::from_secs(30)).await.unwrap();
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    pub async fn drain(&self, timeout: Duration) -> Result<(), ShutdownTimeout> {
        // What ends meanwhile is kept for the report that follows, if one does.
        let _collecting = Collecting::start(&self.set, true);
        self.set.close();
        wait_for(&self.set, "drain", timeout).await
    }

    /// Closes and cancels every task of this set and its child sets, with
    /// [`ShuttingDown`](super::ShuttingDown) as the cause, and waits up to `grace` for them to finish.
    ///
    /// Tasks started after this call get a context that is already canceled. Calling it
    /// again waits again. After a [`drain`](Tasks::drain), this cancels what is left.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimeout`], naming the tasks still running when `grace` ran out. They are
    /// not aborted ([`shutdown_report`](Tasks::shutdown_report) aborts them).
    ///
    /// # Panics
    ///
    /// If called from inside one of the set's own tasks (see [`wait`](Tasks::wait)); the
    /// set is canceled before the panic.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the tasks are canceled as soon as this is first polled, and dropping the
    /// future only stops the waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// tasks.run_loop(&Context::background(), Func::new(|ctx| async move {
    ///     ctx.done().await; // a well-behaved poller
    ///     Ok(())
    /// }));
    /// tasks.shutdown(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> Result<(), ShutdownTimeout> {
        cancel_all(&self.set);
        wait_for(&self.set, "shutdown", grace).await
    }

    /// Closes and cancels every task of this set and its child sets, waits up to `grace`
    /// for them all (together, not one after another), aborts the listed tasks still
    /// running, and says who finished, was canceled, failed, panicked and was aborted, by
    /// name — and
    /// what shut the set down, if a failure did. The report also names who ended since
    /// the first [`close`](Tasks::close), [`drain`](Tasks::drain) or shutdown of this set or
    /// of any set in its tree: with the service idiom (`drain` then `shutdown_report`, or
    /// children drained one after another first), it tells the whole shutdown, each task
    /// once (see [`ShutdownReport`]).
    ///
    /// Like [`shutdown`](Tasks::shutdown), but it leaves no straggler behind: listed tasks
    /// (see [`Snapshot`]) still running after `grace` are aborted with
    /// [`AbortHandle::abort`](tokio::task::AbortHandle::abort), and the report waits until
    /// they are dropped (at their next `.await`; for at most `grace` again, in case one
    /// blocks its thread) — whole: runner, future and, for a pool's run, its slot — so that
    /// [`running`](Tasks::running) counts none of them when it returns. Their [`TaskHandle`]s say
    /// [`is_aborted`](crate::task::TaskError::is_aborted). Unnamed one-shot runs of
    /// [`Tasks::run`] are only counted, and cannot be aborted.
    ///
    /// Several reports may be made at once (on a set and on its parent, say): each gets
    /// every task that ends while it waits.
    ///
    /// # Panics
    ///
    /// If called from inside one of the set's own tasks (see [`wait`](Tasks::wait)); the
    /// set is canceled before the panic.
    ///
    /// # Cancel safety
    ///
    /// The tasks are canceled as soon as this is first polled. Dropping the future before
    /// `grace` runs out skips the aborts and the report, and leaves nothing behind: no
    /// task keeps recording for a report nobody will read.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let ctx = Context::background();
    /// tasks.run_loop(&ctx, Func::named("poller", |ctx| async move {
    ///     ctx.done().await; // stops when canceled
    ///     Ok(())
    /// }));
    /// tasks.run(&ctx, Func::named("stubborn", |_ctx| async {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await; // ignores its context
    ///     Ok(())
    /// }));
    ///
    /// let report = tasks.shutdown_report(Duration::from_secs(5)).await;
    /// assert_eq!(report.finished, ["poller"]);
    /// assert_eq!(report.aborted, ["stubborn"]);
    /// assert_eq!(
    ///     report.to_string(),
    ///     "1 finished (poller), 0 canceled, 0 failed, 0 panicked, 1 aborted (stubborn)"
    /// );
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    pub async fn shutdown_report(&self, grace: Duration) -> ShutdownReport {
        report(&self.set, grace).await
    }

    /// Runs `runner` in a loop, as [`run_loop`](Tasks::run_loop) does, but only while this
    /// replica of the service holds `lease`: a fleet-wide singleton. Every replica calls it;
    /// one leads and runs the loop, the others wait to take over.
    ///
    /// What it does, with the lease's timings (`ttl`, `renew_deadline`, `retry_every`; see
    /// [`Lease`]):
    ///
    /// 1. **Campaigns**: tries to take the lease every `retry_every` until it does. A store
    ///    error is a WARN and another try, never a crash.
    /// 2. **Leads**: runs the loop, and renews the lease every `retry_every` beside it (not
    ///    between iterations). The runs' context is canceled with [`LeaseLost`] (its
    ///    [`cause`](Context::cause)) as soon as a renew says the lease was lost, or when no
    ///    renew has succeeded for `renew_deadline` since the start of the last one that did
    ///    — by this process's monotonic clock, even if a renew never returns.
    /// 3. **Lets go**: the run in flight then has until `ttl - renew_deadline` after the
    ///    loss (never past its term's earliest expiry in the store, as far as this
    ///    process's clock can tell) to stop; then it is aborted, with an ERROR event (a
    ///    WARN if this process was paused past that time: the run is dropped unpolled).
    ///    Only then is the lease released (if still held), and the campaign starts again
    ///    at once (so a replica that lost its lease, and released it, may well take it
    ///    back before the others' next try).
    ///
    /// Each term runs in a span of its own (`lease.name`, `lease.holder`, `lease.fence`)
    /// under which its iterations' spans sit; taking the lease is an INFO event, losing it
    /// a WARN with the reason, and a campaign that finds another replica leading says so
    /// once, at INFO. Its runs read their term with [`Term::current`], to fence
    /// what they write. A [`snapshot`](Tasks::snapshot) lists it as
    /// [`TaskKind::Singleton`], with [`TaskInfo::term`](super::TaskInfo::term) while this
    /// replica leads. With the `metrics` feature, `async_tasks_lease_terms_total`,
    /// `async_tasks_lease_losses_total` (by `reason`) and `async_tasks_lease_leading` count
    /// the terms and losses, by `lease`.
    ///
    /// It ends, releasing the lease at once if it holds it (another replica takes over
    /// within `retry_every`, not `ttl`):
    /// - when this set closes ([`drain`](Tasks::drain), [`close`](Tasks::close)): the
    ///   iteration in flight finishes first, renewals going on meanwhile;
    /// - when it shuts down, or `ctx` ends: the run is canceled first;
    /// - when the loop ends by itself: a failure its policy does not retry, a panic, a
    ///   [`StopLoop`](super::StopLoop).
    ///
    /// An acquire in flight when the context ends never leaks the lease: whatever the store
    /// grants it is released.
    ///
    /// See [`run_singleton_with`](Tasks::run_singleton_with) for a loop policy, and the
    /// [`lease`](crate::lease) module for what a lease guarantees and what it does not.
    ///
    /// # Panics
    ///
    /// If the lease's timings do not keep `ttl > renew_deadline > retry_every > 0` (the
    /// message names the rule and the values), or if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// Two replicas of a service in one process, on the in-process store: one leads.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use async_tasks::lease::{Lease, MemoryLeases, Term};
    /// use async_tasks::{sleep, Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let leases = MemoryLeases::new(); // a database's in production
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let replicas: Vec<Tasks> = ["web-1", "web-2"]
    ///     .into_iter()
    ///     .map(|replica| {
    ///         let tasks = Tasks::new(replica);
    ///         let runs = Arc::clone(&runs);
    ///         tasks.run_singleton(
    ///             &Context::background(),
    ///             Lease::new("outbox", leases.clone()).holder(replica),
    ///             Func::named("outbox", move |ctx| {
    ///                 let runs = Arc::clone(&runs);
    ///                 async move {
    ///                     let fence = Term::current().unwrap().fence(); // fences its writes
    ///                     assert!(fence >= 1);
    ///                     runs.fetch_add(1, Ordering::SeqCst);
    ///                     sleep(&ctx, Duration::from_secs(1)).await?;
    ///                     Ok(())
    ///                 }
    ///             }),
    ///         );
    ///         tasks
    ///     })
    ///     .collect();
    /// tokio::time::sleep(Duration::from_millis(5500)).await;
    /// assert_eq!(runs.load(Ordering::SeqCst), 6); // one replica ran, one run a second
    /// let leader = leases.holder("outbox").unwrap().holder().to_owned();
    /// for tasks in &replicas {
    ///     tasks.drain(Duration::from_secs(5)).await.unwrap();
    /// }
    /// assert!(leases.holder("outbox").is_none(), "{leader} released it when drained");
    /// # }
    /// ```
    #[track_caller]
    pub fn run_singleton<R: Runner + 'static>(&self, ctx: &Context, lease: Lease, runner: R) {
        self.run_singleton_with(ctx, lease, runner, LoopPolicy::new());
    }

    /// [`run_singleton`](Tasks::run_singleton), with the loop repeating as `policy` says
    /// (see [`run_loop_with`](Tasks::run_loop_with)). The policy's state — failures in a
    /// row — carries over from one term to the next.
    ///
    /// # Panics
    ///
    /// As [`run_singleton`](Tasks::run_singleton).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{Lease, MemoryLeases};
    /// use async_tasks::task::{LoopPolicy, TaskKind};
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let leases = MemoryLeases::new();
    /// let tasks = Tasks::new("svc");
    /// tasks.run_singleton_with(
    ///     &Context::background(),
    ///     Lease::new("cache-refresh", leases.clone()).holder("svc-1"),
    ///     Func::named("refresh", |_ctx| async { Ok(()) }),
    ///     LoopPolicy::every(Duration::from_secs(60)),
    /// );
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// let singleton = &tasks.snapshot().tasks[0];
    /// assert_eq!(singleton.kind, TaskKind::Singleton);
    /// assert_eq!(singleton.term.as_ref().map(|term| term.holder()), Some("svc-1"));
    /// tasks.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn run_singleton_with<R: Runner + 'static>(
        &self,
        ctx: &Context,
        lease: Lease,
        runner: R,
        policy: LoopPolicy,
    ) {
        start_singleton(&self.set, ctx, lease, runner, policy);
    }

    /// [`shutdown_on_signals`](super::shutdown_on_signals) for this set: a context canceled
    /// by the first SIGINT or SIGTERM (Ctrl-C on Windows), the service's signal to drain;
    /// a second signal, when the operator insists, exits the process after one ERROR line
    /// that names the tasks of this set (and its child sets) still running — what the exit
    /// drops — rather than a bare "exiting now".
    ///
    /// `SIGTERM received while stopping: exiting now, with 2 tasks still running:
    /// dispatcher, jobs/job-7`
    ///
    /// Needs the `signal` feature (on by default).
    ///
    /// # Panics
    ///
    /// As [`shutdown_on_signals`](super::shutdown_on_signals): outside a tokio runtime with
    /// its IO and signal driver, or if the OS refuses to install the handlers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use async_tasks::Tasks;
    ///
    /// #[tokio::main]
    /// async fn main() {
    ///     let tasks = Tasks::new("service");
    ///     // ... start the service's tasks ...
    ///     tasks.shutdown_on_signals().done().await; // the first SIGTERM
    ///     tasks.drain(Duration::from_secs(30)).await.ok(); // a second one exits, naming who
    ///     println!("{}", tasks.shutdown_report(Duration::from_secs(5)).await);
    /// }
    /// ```
    #[cfg(all(feature = "signal", any(unix, windows)))]
    #[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
    #[must_use = "the returned context is what the signals cancel"]
    #[track_caller]
    pub fn shutdown_on_signals(&self) -> Context {
        watch_signals(Some(Arc::clone(&self.set)))
    }

    /// Waits until no task of this set or its child sets is running, as Go's
    /// `Tasks.Wait`.
    ///
    /// Returns once [`running`](Tasks::running) is zero, so it also waits for tasks that
    /// running tasks started on this set or its children. It can be called again after
    /// more runs.
    ///
    /// # Panics
    ///
    /// Panics if called from inside one of this set's own tasks, or a child set's: that
    /// task counts in `running()`, so it would wait for itself forever. (The panic is
    /// caught and reported like any other panic in a task.) Wait from outside, or run the
    /// inner work on a set that is not this one's child.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only observes.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("example");
    /// tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    /// tasks.wait().await;
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    pub async fn wait(&self) {
        wait_checked(&self.set, "wait").await;
    }

    /// What this set and its child sets are running now: every listed task (see
    /// [`Snapshot`]) with its name, its set's path, kind, start time, and for loops the
    /// iteration and last error; plus how many unnamed one-shot runs are running besides.
    ///
    /// Live introspection without `tokio_unstable`. (Built with `--cfg tokio_unstable`,
    /// each task is also a named tokio task, for tokio-console.)
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    /// use async_tasks::task::TaskKind;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// tasks.run_loop(&ctx, Func::named("poller", |ctx| async move {
    ///     ctx.done().await;
    ///     Ok(())
    /// }));
    /// tasks.child("jobs").run(&ctx, Func::named("import", |ctx| async move {
    ///     ctx.done().await;
    ///     Ok(())
    /// }));
    /// tokio::task::yield_now().await; // let the loop start its first iteration
    ///
    /// let snapshot = tasks.snapshot();
    /// let seen: Vec<_> = snapshot.tasks.iter().map(|t| (&*t.tasks, &*t.name, t.kind)).collect();
    /// assert_eq!(seen, [("svc", "poller", TaskKind::Loop), ("svc/jobs", "import", TaskKind::Run)]);
    /// assert_eq!(snapshot.tasks[0].iteration, Some(1));
    /// cancel.cancel();
    /// tasks.wait().await;
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.set.snapshot()
    }

    /// How many tasks of this set and its child sets are running now (started and not yet
    /// finished).
    #[must_use]
    pub fn running(&self) -> usize {
        self.set.tracker.len()
    }
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("path", &self.path())
            .field("running", &self.running())
            .field("closed", &self.is_closed())
            .field("shut_down", &self.set.ctx.is_done())
            .finish()
    }
}
