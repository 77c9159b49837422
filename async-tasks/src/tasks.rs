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
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::field::Empty;

use crate::classify::{self, ErrorClass};
use crate::registry::{Listed, Registry};
use crate::report::{Run, Supervised};
use crate::snapshot::TaskKind;
use crate::{Context, Runner};

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

// Declared after `task_span!`, which they use.
mod default;
mod looping;
mod shutdown;
#[cfg(test)]
mod tests;

pub use self::default::{default_tasks, run, run_background, run_loop};
pub use self::shutdown::{ShutdownTimeout, ShuttingDown};

/// A named set of tasks: runs [`Runner`]s in the background, each in its own tracing span,
/// waits for them all, and shuts them down.
///
/// The twin of Go's `async.Tasks`, with more: panics are caught and reported instead of
/// killing the process, and [`shutdown`](Tasks::shutdown) cancels every task and waits for
/// them with a grace period.
///
/// Every run happens inside a span named `"task"` at INFO, with fields `task.name` and
/// `otel.name` set to this `Tasks`' name (so OpenTelemetry shows the run under that name).
/// A run that fails with an error other than [`ContextError::Canceled`](crate::ContextError::Canceled) is reported as one
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
    /// or retries under its [`LoopPolicy`](crate::LoopPolicy)).
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
        // Unnamed one-shot runs are the hot path: counted, not listed (see registry.rs).
        let listed = runner
            .name()
            .map(|name| self.shared.registry.insert(Some(name), kind, None));
        // Contextual parent: the span current here, without cloning it.
        let run = Run::new(ctx.join(&self.shared.ctx), task_span!(self), self.shared.id);
        self.spawn_once(runner, run, listed);
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
        let listed = self
            .shared
            .registry
            .insert(runner.name(), TaskKind::Background, None);
        let span = task_span!(self, parent: None);
        span.follows_from(tracing::Span::current());
        let run = Run::new(self.shared.ctx.clone(), span, self.shared.id);
        self.spawn_once(runner, run, Some(listed));
    }

    /// Spawns one run of `runner` (of `run`, `run_background` or a pool), and gives the
    /// registry its abort handle if it is `listed`.
    #[track_caller]
    fn spawn_once<R: Runner + 'static>(&self, runner: R, mut run: Run, mut listed: Option<Listed>) {
        let name = runner.name();
        let ticket = listed.as_ref().map(Listed::ticket);
        let mut meter = self.shared.metrics.spawned(&self.shared.name, &runner);
        let handle = self.spawn(name, async move {
            let started = meter.start();
            let outcome = Supervised::new(&runner, &mut run).await;
            meter.finish(started, &outcome);
            if let Some(listed) = &mut listed {
                listed.finish(&outcome);
            }
        });
        if let Some(ticket) = ticket {
            self.shared
                .registry
                .set_abort(ticket, handle.abort_handle());
        }
    }

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
