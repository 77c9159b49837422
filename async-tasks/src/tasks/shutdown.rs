//! Ending a set: [`close`](Tasks::close) and [`drain`](Tasks::drain), which let the work in
//! flight finish, and [`shutdown`](Tasks::shutdown), which cancels it; [`ShutdownTimeout`]
//! and [`ShuttingDown`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Tasks;
use super::set::Collecting;

/// How many names a message lists before it only counts the rest.
pub(super) const HANDFUL: usize = 5;

/// Writes `names` as `a, b, c, d, e and 3 more`.
pub(super) fn write_names<T: fmt::Display>(f: &mut fmt::Formatter<'_>, names: &[T]) -> fmt::Result {
    for (i, name) in names.iter().take(HANDFUL).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{name}")?;
    }
    if names.len() > HANDFUL {
        write!(f, " and {} more", names.len() - HANDFUL)?;
    }
    Ok(())
}

/// `name` of a task of the set at `set`, as a report on the set at `base` names it: bare
/// for the reported set's own tasks, after the child's path for a child set's (`jobs/import`;
/// `jobs` alone for a task named after its set), and after its whole path for a task
/// elsewhere in the tree (the failure of a sibling that shut the root down).
pub(super) fn qualified(base: &str, set: &str, name: &str) -> String {
    let relative = match set.strip_prefix(base) {
        Some("") => return name.to_owned(),
        Some(rest) if rest.starts_with('/') => &rest[1..],
        _ => set,
    };
    if relative.rsplit('/').next() == Some(name) {
        relative.to_owned()
    } else {
        format!("{relative}/{name}")
    }
}

/// Returned by [`Tasks::shutdown`] and [`Tasks::drain`] when tasks were still running once
/// the time given ran out.
///
/// Says how many and which: each by its name, as [`ShutdownReport`](crate::ShutdownReport)
/// names tasks (a task of a child set after the child's path: `jobs/import`). The tasks are
/// not aborted: they were cancelled (by `shutdown`) or asked to finish (by `drain`) and may
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
    /// `"shutdown"` or `"drain"`.
    op: &'static str,
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

    /// The name of the [`Tasks`] that was shut down (its path, for a child set).
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
            "{} of tasks `{}` timed out with {n} task{} still running: ",
            self.op,
            self.tasks,
            if n == 1 { "" } else { "s" },
        )?;
        write_names(f, &self.names)
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
    /// The name of the [`Tasks`] shutting down (its path, for a child set).
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
    /// Closes this set and cancels every task of it and its child sets, now and to come,
    /// with [`ShuttingDown`] as the cause (unless something cancelled it first).
    pub(super) fn cancel_all(&self) {
        self.set.shut_down(Some(Arc::new(ShuttingDown {
            tasks: self.path().to_owned(),
        })));
    }

    /// Closes this set and its child sets: the work in flight goes on, and no new work is
    /// taken. Tasks see it on their context ([`Context::is_closing`](crate::Context::is_closing),
    /// [`Context::closing`](crate::Context::closing)).
    ///
    /// After `close`:
    /// - a loop finishes the iteration in flight and starts no other (a loop pausing between
    ///   iterations stops at once);
    /// - [`Pool::run`](crate::Pool::run) on a pool of this set admits nothing new: it returns
    ///   [`AdmitError::Closed`](crate::AdmitError::Closed) (and drops the runner unrun);
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
    /// use async_tasks::{Context, Func, Tasks};
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
    /// running to finish — without cancelling anything. A
    /// [`shutdown_report`](Tasks::shutdown_report) that follows says who finished, failed
    /// or panicked during the drain too.
    ///
    /// The service idiom, on SIGTERM: let the jobs in flight finish, then cancel what is
    /// left, and say who did what:
    ///
    /// ```no_run
    /// # use std::time::Duration;
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
    ///     sleep(&ctx, Duration::from_secs(10)).await?; // in flight: not cancelled by a drain
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
        self.close();
        self.wait_for("drain", timeout).await
    }

    /// Closes and cancels every task of this set and its child sets, with
    /// [`ShuttingDown`] as the cause, and waits up to `grace` for them to finish.
    ///
    /// Tasks started after this call get a context that is already cancelled. Calling it
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
    /// set is cancelled before the panic.
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
        self.wait_for("shutdown", grace).await
    }

    /// Waits up to `limit` for every task; on time out, names those still running.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits (the trackers and a timer), and leaves nothing behind.
    async fn wait_for(&self, op: &'static str, limit: Duration) -> Result<(), ShutdownTimeout> {
        if tokio::time::timeout(limit, self.wait_checked(op))
            .await
            .is_ok()
        {
            return Ok(());
        }
        // Listed tasks by name; the unlisted rest by their set's name. The counts are read
        // apart, so a task ending in between may be missed: this is a snapshot.
        let mut names: Vec<String> = self
            .snapshot()
            .tasks
            .iter()
            .map(|task| qualified(self.path(), &task.tasks, &task.name))
            .collect();
        for (set, unlisted) in self.set.unlisted_by_set() {
            let name = qualified(self.path(), &set.path, &set.name);
            names.extend(std::iter::repeat_n(name, unlisted));
        }
        names.sort();
        Err(ShutdownTimeout {
            tasks: self.path().to_owned(),
            op,
            names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_qualified_by_the_path_below_the_reported_set() {
        assert_eq!(qualified("svc", "svc", "poller"), "poller");
        assert_eq!(qualified("svc", "svc/jobs", "import"), "jobs/import");
        assert_eq!(qualified("svc", "svc/jobs", "jobs"), "jobs");
        assert_eq!(qualified("svc/jobs", "svc/db", "loop"), "svc/db/loop");
        assert_eq!(qualified("svc", "svcx", "a"), "svcx/a");
    }
}
