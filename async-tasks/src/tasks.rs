//! [`Tasks`]: a named set of tasks, in a tree of sets — runs runners as traced tokio tasks,
//! waits for them, drains and shuts them down.
//!
//! The handle is here; what a set is lives in `set.rs` (its shared state), how one task
//! runs in `supervise.rs`, how it is started in `run.rs`, what is listed in `listing.rs`; each way of starting work has a
//! file (`looping.rs`, `spawn.rs`, `default.rs`), and so has each way of ending it
//! (`shutdown.rs`, `shutdown_report.rs`), of looking at it (`snapshot.rs`) and of
//! escalating a failure (`escalation.rs`).

use std::fmt;
use std::sync::Arc;

mod default;
mod escalation;
mod listing;
mod looping;
mod probe;
mod raised;
mod run;
mod set;
mod shutdown;
mod shutdown_report;
mod snapshot;
mod spawn;
mod supervise;
#[cfg(test)]
mod tests;

pub use self::default::{default_tasks, run, run_background, run_loop};
pub use self::escalation::OnFailure;
pub(crate) use self::listing::TaskName;
pub(crate) use self::raised::{claim as claim_panic_location, resume as resume_panic};
pub use self::shutdown::{ShutdownTimeout, ShuttingDown};
pub use self::shutdown_report::{ShutdownReport, TaskFailure};
pub use self::snapshot::{Snapshot, TaskInfo, TaskKind};
pub use self::spawn::TaskHandle;
pub(crate) use self::supervise::{
    FailedWith, keep_panic_location, stash_failed_call, with_current,
};

use self::set::Set;
use self::supervise::{root_task_span, task_span};
use crate::{Context, ErrorClass, Runner};

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
/// [`ContextError::Canceled`](crate::ContextError::Canceled) is reported as one ERROR event
/// with an `error` field; a panic as one ERROR event with a `panic` field; both also set
/// `otel.status_code = "ERROR"` and `otel.status_description` on the span. The events have
/// the target `async_tasks`, and name the task (`task`, the runner's name or the set's) and
/// its set (`tasks`, the set's path).
///
/// Each task's context is a child of both the caller's context and this set's own
/// context. `Tasks` is a cheap handle: clones share the same set. Dropping it neither
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
///   ([`snapshot`](Tasks::snapshot)) and says at shutdown which finished, failed, panicked
///   or had to be aborted ([`shutdown_report`](Tasks::shutdown_report)).
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
    set: Arc<Set>,
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
    /// or retries under its [`LoopPolicy`](crate::LoopPolicy)); only an error of class
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
    pub(crate) fn take_failures(&self) -> Vec<crate::TaskError> {
        self.set.take_failures()
    }

    /// Says what a failed run of this set does beyond its report: see [`OnFailure`].
    ///
    /// A failure here is a run that returned an error of class
    /// [`ErrorClass::Error`] (a cancellation is not a failure, and
    /// an error its [classes](Tasks::with_error_classes) call a warning or ignore does not
    /// escalate). A loop run with a [`LoopPolicy`](crate::LoopPolicy) that retries fails
    /// only when the policy gives up. Panics are set apart, with
    /// [`on_panic`](Tasks::on_panic).
    ///
    /// Set per set: a child set does not take its parent's, but a [`pool`](Tasks::pool) made
    /// from this set does (its runs are this set's runs), unless it is told
    /// [`cancel_on_error`](crate::Pool::cancel_on_error). Calling it again replaces the
    /// action.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, OnFailure, TaskError, Tasks};
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

    /// Says what a run of this set that panics does beyond its report: see [`OnFailure`]
    /// and [`on_failure`](Tasks::on_failure). A panic is a bug, not a failure to retry: a
    /// loop escalates its panic at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, OnFailure, Tasks};
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
    /// [`TaskError`](crate::TaskError) is then its [cause](Context::cause).
    ///
    /// What a service's `main` waits on beside its signals, to stop when the service's own
    /// tasks say so.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{ShuttingDown, Tasks};
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
    /// The run gets a context that is a child of `ctx` and of this set's, and a `"task"`
    /// span whose parent is the span current here. The runner runs even if `ctx` is done
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
        let ticket = name.map(|name| self.list(TaskName::Static(name), TaskKind::Run));
        // Contextual parent: the span current here, without cloning it.
        let (ctx, span) = (ctx.join(&self.set.ctx), task_span(&self.set));
        self.spawn_runner(runner, name, ctx, span, ticket);
    }

    /// Runs `runner` once in a new tokio task, detached from `ctx`, as Go's
    /// `RunBackground`.
    ///
    /// The runner's context has no deadline and is closed and cancelled only by this set
    /// (and its parents); cancelling `ctx` does not reach it. Its span starts a new trace
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
        let ticket = self.list(self.task_name(name), TaskKind::Background);
        let span = root_task_span(&self.set);
        span.follows_from(tracing::Span::current());
        self.spawn_runner(runner, name, self.set.ctx.clone(), span, Some(ticket));
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
        self.wait_checked("wait").await;
    }

    /// `wait`, refusing to wait from inside one of the set's own tasks; `op` names the
    /// method the user called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits, and the check takes nothing.
    async fn wait_checked(&self, op: &str) {
        let inside = with_current(|current| current.is_some_and(|set| set.is_within(&self.set)));
        assert!(
            !inside,
            "`Tasks::wait` was called from inside a task of the same `Tasks` (`{}`){}: it \
             would wait for itself forever; wait from outside the set, or run the inner work \
             on a second `Tasks` (not this one's child)",
            self.path(),
            if op == "wait" {
                String::new()
            } else {
                format!(", by `Tasks::{op}`")
            },
        );
        self.set.tracker.wait().await;
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
        let mut tasks: Vec<TaskInfo> = self
            .set
            .subtree()
            .iter()
            .flat_map(|set| set.listing.snapshot(&set.path))
            .collect();
        tasks.sort_by_key(|task| task.started_at);
        // Read apart from the listings: a task ending in between may be missed.
        let unlisted = self.running().saturating_sub(tasks.len());
        Snapshot { tasks, unlisted }
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
