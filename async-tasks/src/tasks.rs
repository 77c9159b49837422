//! [`Tasks`]: spawns runners as traced tokio tasks, waits for them, and shuts them down.
//!
//! Invariants:
//! - every task is counted by the tracker from before `run*()` returns until its future is
//!   dropped, whether it finished or its runtime went away (`running()`, `wait()`);
//! - every task's context is a child of the `Tasks`' own shutdown context, so `shutdown`
//!   reaches all of them, including those started after it (born cancelled);
//! - a task never unwinds into tokio: panics are caught and reported in `report.rs`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::field::Empty;

use crate::classify::{self, ErrorClass};
use crate::context::Why;
use crate::registry::{Ended, Listed, LoopStats, Registry};
use crate::report::{Outcome, Run, Supervised};
use crate::snapshot::{ShutdownReport, Snapshot, TaskFailure, TaskKind};
use crate::{Context, ContextError, LoopPolicy, Runner, sleep};

/// The span of one run: named `"task"`, with the `Tasks`' name as `task.name` and
/// `otel.name`, and room for the failure status that `report` records.
macro_rules! task_span {
    ($tasks:expr $(, parent: $parent:expr)?) => {{
        let name: &str = &$tasks.shared.name;
        tracing::info_span!(
            $(parent: $parent,)?
            "task",
            task.name = name,
            otel.name = name,
            otel.status_code = Empty,
            otel.status_description = Empty,
        )
    }};
    // A loop iteration's span: its number, and room for the retry attempt.
    ($tasks:expr, parent: $parent:expr, iteration = $iteration:expr) => {{
        let name: &str = &$tasks.shared.name;
        tracing::info_span!(
            parent: $parent,
            "task",
            task.name = name,
            otel.name = name,
            iteration = $iteration,
            attempt = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
        )
    }};
}

/// A named set of tasks: runs [`Runner`]s in the background, each in its own tracing span,
/// waits for them all, and shuts them down.
///
/// The twin of Go's `async.Tasks`, with more: panics are caught and reported instead of
/// killing the process, and [`shutdown`](Tasks::shutdown) cancels every task and waits for
/// them with a grace period.
///
/// Every run happens inside a span named `"task"` at INFO, with fields `task.name` and
/// `otel.name` set to this `Tasks`' name (so OpenTelemetry shows the run under that name).
/// A run that fails with an error other than [`ContextError::Canceled`] is reported as one
/// ERROR event with an `error` field; a panic as one ERROR event with a `panic` field; both
/// also set `otel.status_code = "ERROR"` and `otel.status_description` on the span.
///
/// Each task's context is a child of both the caller's context and this `Tasks`' own
/// shutdown context. `Tasks` is a cheap handle: clones share the same tasks. Dropping it
/// neither cancels nor detaches anything; the tasks run on.
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
#[derive(Clone)]
pub struct Tasks {
    shared: Arc<Shared>,
}

thread_local! {
    /// The id of the `Tasks` whose task this thread is polling (0: none), so that `wait`
    /// can refuse to wait for itself. Set by [`Polling`] around each poll of a run.
    static POLLING: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as polling a task of the `Tasks` with this id, until dropped
/// (restoring what was there, for runtimes nested inside a task).
pub(crate) struct Polling(u32);

impl Polling {
    pub(crate) fn enter(tasks_id: u32) -> Polling {
        Polling(POLLING.replace(tasks_id))
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.set(self.0);
    }
}

/// The id of the `Tasks` whose task this thread is polling now, 0 if none.
pub(crate) fn polling_tasks() -> u32 {
    POLLING.get()
}

impl Drop for Shared {
    fn drop(&mut self) {
        classify::unregister(self.id);
    }
}

struct Shared {
    /// Unique per `Tasks::new` (an address could be reused after a drop), never 0.
    id: u32,
    name: Box<str>,
    /// Parent of every task's context; cancelled by `shutdown`.
    ctx: Context,
    /// Closed at creation and never reopened, so `wait()` returns whenever it is empty:
    /// Go's `WaitGroup` semantics.
    tracker: TaskTracker,
    registry: Arc<Registry>,
    /// Metric keys (feature `metrics`; zero-sized without it).
    metrics: crate::metrics::TasksMetrics,
}

/// Returned by [`Tasks::shutdown`] when tasks were still running after the grace period.
///
/// Says how many and which: each by its runner's [`name`](Runner::name), or the `Tasks`'
/// name for runners without one. The tasks are not aborted; they were cancelled and may
/// still finish.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{Func, Tasks};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = Tasks::new("svc");
/// // A runner that ignores its context.
/// tasks.run(
///     &async_tasks::Context::background(),
///     Func::named("stubborn", |_ctx| async {
///         tokio::time::sleep(Duration::from_secs(3600)).await;
///         Ok(())
///     }),
/// );
/// let err = tasks.shutdown(Duration::from_secs(1)).await.unwrap_err();
/// assert_eq!(err.running(), 1);
/// assert_eq!(err.names(), ["stubborn"]);
/// assert_eq!(
///     err.to_string(),
///     "shutdown of tasks `svc` timed out with 1 task still running: stubborn"
/// );
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownTimeout {
    tasks: String,
    names: Vec<String>,
}

impl ShutdownTimeout {
    /// How many tasks were still running.
    #[must_use]
    pub fn running(&self) -> usize {
        self.names.len()
    }

    /// The names of the tasks still running, sorted.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of the [`Tasks`] that was shut down.
    #[must_use]
    pub fn tasks_name(&self) -> &str {
        &self.tasks
    }
}

impl fmt::Display for ShutdownTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.names.len();
        write!(
            f,
            "shutdown of tasks `{}` timed out with {n} task{} still running: {}",
            self.tasks,
            if n == 1 { "" } else { "s" },
            self.names.join(", ")
        )
    }
}

impl std::error::Error for ShutdownTimeout {}

/// The [cause](Context::cause) of a task's cancellation when its [`Tasks`] shuts down, so
/// that a task can tell a shutdown from its caller giving up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{Context, Func, ShuttingDown, Tasks};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = Tasks::new("svc");
/// tasks.run(&Context::background(), Func::new(|ctx| async move {
///     ctx.done().await;
///     let cause = ctx.cause().unwrap();
///     assert!(cause.is::<ShuttingDown>());
///     assert_eq!(cause.to_string(), "tasks `svc` are shutting down");
///     Ok(())
/// }));
/// tasks.shutdown(Duration::from_secs(1)).await.unwrap();
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuttingDown {
    tasks: String,
}

impl ShuttingDown {
    /// The name of the [`Tasks`] shutting down.
    #[must_use]
    pub fn tasks_name(&self) -> &str {
        &self.tasks
    }
}

impl fmt::Display for ShuttingDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tasks `{}` are shutting down", self.tasks)
    }
}

impl std::error::Error for ShuttingDown {}

impl Tasks {
    /// An empty set of tasks named `name`. Needs no runtime.
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
        // The handle is not kept: `shutdown` cancels through `Context::cancel_because`.
        let (ctx, _) = Context::background().with_cancel();
        let tracker = TaskTracker::new();
        tracker.close();
        // Relaxed: only uniqueness matters. 0 is "no `Tasks`" in `POLLING`. 32 bits keep
        // every spawned future 8 bytes smaller (it packs beside the future's state tag); a
        // clash needs 2^32 `Tasks::new` calls between two sets alive at once, and would only
        // make `wait` refuse to run from a task of the other.
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        Tasks {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed).max(1),
                name: name.into().into_boxed_str(),
                ctx,
                tracker,
                registry: Arc::default(),
                metrics: Default::default(),
            }),
        }
    }

    /// Says how this set reports failed runs: `classes` maps each error (other than a
    /// cancellation) to an [`ErrorClass`] — report it as an ERROR (the default for every
    /// error without this), as a WARN without failing the span (a client error), or not at
    /// all (an expected outcome). `#[async_task]` call spans inside this set's runs follow
    /// the same classes. Panics are always errors.
    ///
    /// The class only changes the report: a failed run is still failed (a loop still stops,
    /// or retries under its [`LoopPolicy`]).
    ///
    /// # Panics
    ///
    /// If this set has classes already.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{ErrorClass, Tasks};
    ///
    /// #[derive(Debug)]
    /// enum ApiError {
    ///     NotFound,
    ///     Upstream(String),
    /// }
    /// # impl std::fmt::Display for ApiError {
    /// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    /// #         write!(f, "{self:?}")
    /// #     }
    /// # }
    /// # impl std::error::Error for ApiError {}
    ///
    /// let tasks = Tasks::new("api").with_error_classes(|err| match err.downcast_ref() {
    ///     Some(ApiError::NotFound) => ErrorClass::Warn,
    ///     Some(ApiError::Upstream(_)) | None => ErrorClass::Error,
    /// });
    /// # drop(tasks);
    /// ```
    #[must_use]
    pub fn with_error_classes<F>(self, classes: F) -> Tasks
    where
        F: Fn(&(dyn std::error::Error + 'static)) -> ErrorClass + Send + Sync + 'static,
    {
        classify::register(self.shared.id, self.name(), Arc::new(classes));
        self
    }

    /// This set's name: the `task.name` and `otel.name` of its spans.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `runner` once in a new tokio task: the twin of Go's `Tasks.Run`.
    ///
    /// The run gets a context that is a child of `ctx` and of this set's shutdown, and a
    /// `"task"` span whose parent is the span current here. The runner runs even if `ctx`
    /// is done already (it sees the error, as in Go). The task counts in
    /// [`running`](Tasks::running) from the moment this returns.
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
        self.run_as(TaskKind::Run, ctx, runner);
    }

    /// `run`, listed as `kind` (a pool's runs are one-shot runs of its own `Tasks`).
    #[track_caller]
    pub(crate) fn run_as<R: Runner + 'static>(&self, kind: TaskKind, ctx: &Context, runner: R) {
        let name = runner.name();
        // Unnamed one-shot runs are the hot path: counted, not listed (see registry.rs).
        let listed = name.map(|name| self.list(Some(name), kind, None));
        let ticket = listed.as_ref().map(Listed::ticket);
        let id = self.shared.id;
        let mut meter = self.shared.metrics.spawned(&self.shared.name, &runner);
        // Contextual parent: the span current here, without cloning it.
        let mut run = Run::new(ctx.join(&self.shared.ctx), task_span!(self), id);
        let handle = self.spawn(name, async move {
            let started = meter.start();
            let outcome = Supervised::new(&runner, &mut run).await;
            meter.finish(started, &outcome);
            if let Some(listed) = &listed {
                listed.ended(&outcome);
            }
        });
        if let Some(ticket) = ticket {
            self.shared
                .registry
                .set_abort(ticket, handle.abort_handle());
        }
    }

    /// Runs `runner` over and over in a new tokio task until its context is done, it fails
    /// or it panics: the twin of Go's `Tasks.Loop` (`loop` is a keyword in Rust).
    ///
    /// The context is checked before each iteration, so a loop whose `ctx` is done already
    /// runs zero times. Each iteration runs in its own `"task"` span, a child of the span
    /// current here. An error that is [`ContextError::Canceled`] does not stop the loop by
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
    /// when it retries after failures). Every failure is reported as it happens; when the
    /// loop gives up, one more ERROR event says so, with the number of `failures` in a row.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, LoopPolicy, Tasks};
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
        let name = runner.name();
        let stats = Arc::<LoopStats>::default();
        let listed = self.list(name, TaskKind::Loop, Some(Arc::clone(&stats)));
        let ticket = listed.ticket();
        let id = self.shared.id;
        let mut meter = self.shared.metrics.spawned(&self.shared.name, &runner);
        let ctx = ctx.join(&self.shared.ctx);
        let parent = tracing::Span::current();
        let this = self.clone();
        let task = async move {
            let mut iteration: u64 = 0;
            // Failures in a row, and the backoff delays for them (made at the first).
            let mut failures: u32 = 0;
            let mut backoff = None;
            // How the loop ended, for a shutdown report: by its context unless said below.
            let mut last = Outcome::Finished;
            while !ctx.is_done() {
                iteration += 1;
                stats.set_iteration(iteration);
                let span = task_span!(this, parent: &parent, iteration = iteration);
                if failures > 0 {
                    span.record("attempt", failures + 1);
                }
                let mut run = Run::new(ctx.clone(), span, id);
                let started = meter.start();
                let outcome = Supervised::new(&runner, &mut run).await;
                meter.finish(started, &outcome);
                if let Outcome::Failed(err) = &outcome {
                    stats.set_last_error(err.to_string());
                }
                let pause = match &outcome {
                    Outcome::Finished | Outcome::Canceled(_) => {
                        (failures, backoff) = (0, None);
                        policy.every
                    }
                    Outcome::Failed(_) if policy.retries() => {
                        failures += 1;
                        let delays = backoff.get_or_insert_with(|| policy.backoff());
                        let delay = delays.as_mut().and_then(|delays| delays.next());
                        match delay {
                            Some(delay) if policy.max_failures.is_none_or(|max| failures < max) => {
                                Some(delay)
                            }
                            _ => {
                                run.give_up(failures);
                                last = outcome;
                                break;
                            }
                        }
                    }
                    Outcome::Failed(_) | Outcome::Panicked(_) | Outcome::Stopped => {
                        last = outcome;
                        break;
                    }
                };
                match pause {
                    Some(pause) => {
                        if sleep(&ctx, pause).await.is_err() {
                            break;
                        }
                    }
                    // Yields only once tokio's budget for this task is spent, so a runner
                    // that returns at once cannot starve the runtime, at no cost otherwise.
                    None => tokio::task::consume_budget().await,
                }
            }
            listed.ended(&last);
        };
        let handle = self.spawn(name, task);
        self.shared
            .registry
            .set_abort(ticket, handle.abort_handle());
    }

    /// Runs `runner` once in a new tokio task, detached from `ctx`: the twin of Go's
    /// `RunBackground`.
    ///
    /// The runner's context has no deadline and is cancelled only by this set's
    /// [`shutdown`](Tasks::shutdown); cancelling `ctx` does not reach it. Its span starts a
    /// new trace (no parent), with a `follows_from` link to the span current here.
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
    ///     cancel.cancel(); // cancelling the caller's context...
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
        let listed = self.list(name, TaskKind::Background, None);
        let ticket = listed.ticket();
        let id = self.shared.id;
        let mut meter = self.shared.metrics.spawned(&self.shared.name, &runner);
        let span = task_span!(self, parent: None);
        span.follows_from(tracing::Span::current());
        let mut run = Run::new(self.shared.ctx.clone(), span, id);
        let handle = self.spawn(name, async move {
            let started = meter.start();
            let outcome = Supervised::new(&runner, &mut run).await;
            meter.finish(started, &outcome);
            listed.ended(&outcome);
        });
        self.shared
            .registry
            .set_abort(ticket, handle.abort_handle());
    }

    /// Cancels every task of this set, now and to come, with [`ShuttingDown`] as the cause.
    fn cancel_all(&self) {
        self.shared.ctx.cancel_because(Why {
            reason: ContextError::Canceled,
            cause: Some(Arc::new(ShuttingDown {
                tasks: self.shared.name.to_string(),
            })),
        });
    }

    /// Lists a task about to start, so that snapshots and shutdowns can name it.
    fn list(
        &self,
        name: Option<&'static str>,
        kind: TaskKind,
        stats: Option<Arc<LoopStats>>,
    ) -> Listed {
        self.shared.registry.insert(name, kind, stats)
    }

    /// Spawns one task on the current runtime, counted by the tracker. `task` is built by the
    /// caller as one flat future (nesting `async` blocks around a moved future doubles its
    /// size, and the size is copied on every spawn).
    #[track_caller]
    fn spawn<F>(&self, name: Option<&'static str>, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Outside a runtime, tokio panics here with "there is no reactor running, must be
        // called from the context of a Tokio 1.x runtime", at the caller's line thanks to
        // `#[track_caller]` on every `run*`.
        #[cfg(not(tokio_unstable))]
        {
            let _ = name;
            self.shared.tracker.spawn(task)
        }
        // With tokio_unstable, tokio-console shows each task under its runner's name.
        #[cfg(tokio_unstable)]
        {
            let name = name.unwrap_or(&self.shared.name);
            tokio::task::Builder::new()
                .name(name)
                .spawn(self.shared.tracker.track_future(task))
                .expect("spawning a named tokio task")
        }
    }

    /// Whether the code running now is one of this set's tasks.
    fn is_current(&self) -> bool {
        POLLING.get() == self.shared.id
    }

    /// Waits until no task of this set is running: the twin of Go's `Tasks.Wait`.
    ///
    /// Returns once [`running`](Tasks::running) is zero, so it also waits for tasks that
    /// running tasks started on this set. It can be called again after more runs.
    ///
    /// # Panics
    ///
    /// Panics if called from inside one of this set's own tasks: that task counts in
    /// `running()`, so it would wait for itself forever. (The panic is caught and reported
    /// like any other panic in a task.) Wait from outside, or run the inner work on a
    /// second `Tasks`.
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
        assert!(
            !self.is_current(),
            "`Tasks::wait` was called from inside a task of the same `Tasks` (`{}`): it would \
             wait for itself forever; wait from outside the set, or run the inner work on a \
             second `Tasks`",
            self.name()
        );
        self.shared.tracker.wait().await;
    }

    /// How many tasks of this set are running now (started and not yet finished).
    #[must_use]
    pub fn running(&self) -> usize {
        self.shared.tracker.len()
    }

    /// Cancels every task of this set and waits up to `grace` for them to finish.
    ///
    /// Tasks started after this call get a context that is already cancelled. Calling it
    /// again waits again.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimeout`], naming the tasks still running when `grace` ran out. They are
    /// not aborted.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the tasks are cancelled as soon as this is first polled, and dropping the
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
        self.cancel_all();
        if tokio::time::timeout(grace, self.wait()).await.is_ok() {
            return Ok(());
        }
        // Listed tasks by name; the unlisted rest go by this set's name. The two counts are
        // read apart, so a task ending in between may be missed: the report is a snapshot.
        let Snapshot { tasks, unlisted } = self.snapshot();
        let mut names: Vec<String> = tasks.into_iter().map(|task| task.name).collect();
        names.extend(std::iter::repeat_n(self.shared.name.to_string(), unlisted));
        names.sort();
        Err(ShutdownTimeout {
            tasks: self.shared.name.to_string(),
            names,
        })
    }

    /// Cancels every task of this set, waits up to `grace` for them all (together, not one
    /// after another), aborts the listed tasks still running, and says who finished,
    /// failed, panicked and was aborted, by name.
    ///
    /// Like [`shutdown`](Tasks::shutdown), but it does not leave stragglers behind: listed
    /// tasks (see [`Snapshot`]) still running after `grace` are aborted with
    /// [`AbortHandle::abort`](tokio::task::AbortHandle::abort) (dropped at their next
    /// `.await`). Unnamed one-shot runs are only counted, and cannot be aborted.
    ///
    /// One report at a time: a second call while one waits starts over for both.
    ///
    /// # Cancel safety
    ///
    /// The tasks are cancelled as soon as this is first polled; dropping the future before
    /// `grace` runs out skips the aborts and the report.
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
    ///     ctx.done().await; // stops when cancelled
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
    /// assert_eq!(report.to_string(), "1 finished, 0 failed, 0 panicked, 1 aborted");
    /// # }
    /// ```
    pub async fn shutdown_report(&self, grace: Duration) -> ShutdownReport {
        let registry = &self.shared.registry;
        registry.start_report();
        let unlisted_before = self.running().saturating_sub(registry.len());
        self.cancel_all();
        let _ = tokio::time::timeout(grace, self.wait()).await;
        let (ended, running) = registry.finish_report();
        let unlisted_running = self.running().saturating_sub(running.len());
        let name = |n: Option<&'static str>| n.unwrap_or(&self.shared.name).to_owned();
        let mut report = ShutdownReport {
            unlisted_finished: unlisted_before.saturating_sub(unlisted_running),
            unlisted_running,
            ..ShutdownReport::default()
        };
        for (task, ended) in ended {
            match ended {
                Ended::Finished => report.finished.push(name(task)),
                Ended::Failed(error) => report.failed.push(TaskFailure::new(name(task), error)),
                Ended::Panicked(error) => {
                    report.panicked.push(TaskFailure::new(name(task), error));
                }
            }
        }
        for (task, abort) in running {
            if let Some(abort) = abort {
                abort.abort();
            }
            report.aborted.push(name(task));
        }
        report.aborted.sort();
        report
    }

    /// What this set is running now: every listed task (loops, background tasks, and runs
    /// whose runner has a name) with its name, kind, start time, and for loops the
    /// iteration and last error; plus how many unnamed one-shot runs are running besides.
    ///
    /// Live introspection without `tokio_unstable`. (Built with `--cfg tokio_unstable`,
    /// each task is also a named tokio task, for tokio-console.)
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, TaskKind, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// tasks.run_loop(&ctx, Func::named("poller", |ctx| async move {
    ///     ctx.done().await;
    ///     Ok(())
    /// }));
    /// tokio::task::yield_now().await; // let the loop start its first iteration
    ///
    /// let snapshot = tasks.snapshot();
    /// assert_eq!(snapshot.tasks.len(), 1);
    /// assert_eq!(snapshot.tasks[0].name, "poller");
    /// assert_eq!(snapshot.tasks[0].kind, TaskKind::Loop);
    /// assert_eq!(snapshot.tasks[0].iteration, Some(1));
    /// cancel.cancel();
    /// tasks.wait().await;
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let tasks = self.shared.registry.snapshot(&self.shared.name);
        let unlisted = self.running().saturating_sub(tasks.len());
        Snapshot { tasks, unlisted }
    }
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("name", &self.name())
            .field("running", &self.running())
            .field("shut_down", &self.shared.ctx.is_done())
            .finish()
    }
}

/// The default [`Tasks`], named `"async.run"`, used by [`run`], [`run_loop`] and
/// [`run_background`]: the twin of Go's `async.Default`.
///
/// Created on first use; needs no runtime. Its tasks are spawned on the runtime current at
/// each call, so it serves several runtimes (each test's, for example).
///
/// # Examples
///
/// ```
/// assert_eq!(async_tasks::default_tasks().name(), "async.run");
/// ```
#[must_use]
pub fn default_tasks() -> &'static Tasks {
    static DEFAULT: LazyLock<Tasks> = LazyLock::new(|| Tasks::new("async.run"));
    &DEFAULT
}

/// Runs `runner` once on [`default_tasks()`]: see [`Tasks::run`]. The twin of Go's
/// `async.Run`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// run(&Context::background(), Func::new(|_ctx| async {
///     println!("Run example");
///     Ok(())
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run(ctx, runner);
}

/// Runs `runner` in a loop on [`default_tasks()`]: see [`Tasks::run_loop`]. The twin of
/// Go's `async.Loop`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run_loop, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (ctx, cancel) = Context::background().with_cancel();
/// run_loop(&ctx, Func::new(move |_ctx| {
///     cancel.cancel(); // stop after this iteration
///     async { Ok(()) }
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run_loop<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run_loop(ctx, runner);
}

/// Runs `runner` once on [`default_tasks()`], detached from `ctx`: see
/// [`Tasks::run_background`]. The twin of Go's `async.RunBackground`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run_background, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// run_background(&Context::background(), Func::new(|ctx| async move {
///     assert!(ctx.deadline().is_none());
///     Ok(())
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run_background<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run_background(ctx, runner);
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures_util::FutureExt;
    use tokio::sync::mpsc;

    use super::*;
    use crate::Func;

    #[tokio::test]
    async fn wait_from_inside_its_own_task_panics_instead_of_hanging() {
        let tasks = Tasks::new("self-waiter");
        let other = Tasks::new("other");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (inner, outer) = (tasks.clone(), other.clone());
        tasks.run(
            &Context::background(),
            Func::new(move |_ctx| {
                let (inner, outer, tx) = (inner.clone(), outer.clone(), tx.clone());
                async move {
                    // Waiting on another set from inside a task is fine.
                    outer.wait().await;
                    let waited = AssertUnwindSafe(inner.wait()).catch_unwind().await;
                    let message = waited
                        .err()
                        .and_then(|p| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tx.send(message)?;
                    Ok(())
                }
            }),
        );
        let message = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the task must not hang")
            .expect("the task reports back");
        assert!(
            message.contains(
                "`Tasks::wait` was called from inside a task of the same `Tasks` (`self-waiter`)"
            ),
            "{message}"
        );
        tasks.wait().await;
    }
}
