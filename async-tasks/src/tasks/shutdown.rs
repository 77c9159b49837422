//! Ending a `Tasks`: [`shutdown`](Tasks::shutdown), [`shutdown_report`](Tasks::shutdown_report)
//! and what they return, and [`snapshot`](Tasks::snapshot), which both use to name tasks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Tasks;
use crate::ContextError;
use crate::context::Why;
use crate::registry::{Ended, ReportEnd};
use crate::snapshot::{ShutdownReport, Snapshot, TaskFailure};

/// Returned by [`Tasks::shutdown`] when tasks were still running after the grace period.
///
/// Says how many and which: each by its runner's [`name`](crate::Runner::name), or the `Tasks`'
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

/// The [cause](crate::Context::cause) of a task's cancellation when its [`Tasks`] shuts down, so
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
    /// Cancels every task of this set, now and to come, with [`ShuttingDown`] as the cause.
    fn cancel_all(&self) {
        self.shared.ctx.cancel_because(Why {
            reason: ContextError::Canceled,
            cause: Some(Arc::new(ShuttingDown {
                tasks: self.shared.name.to_string(),
            })),
        });
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
        let ReportEnd { ended, running } = registry.finish_report();
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
