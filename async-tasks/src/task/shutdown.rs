//! Ending a set: [`close`](super::Tasks::close) and [`drain`](super::Tasks::drain), which let the work in
//! flight finish, and [`shutdown`](super::Tasks::shutdown), which cancels it; [`ShutdownTimeout`]
//! and [`ShuttingDown`].

use std::fmt;
use std::sync::Arc;

use super::set::Set;

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

/// Returned by [`Tasks::shutdown`](super::Tasks::shutdown) and [`Tasks::drain`](super::Tasks::drain) when tasks were still running once
/// the time given ran out.
///
/// Says how many and which: each by its name, as [`ShutdownReport`](crate::task::ShutdownReport)
/// names tasks (a task of a child set after the child's path: `jobs/import`). The tasks are
/// not aborted: they were canceled (by `shutdown`) or asked to finish (by `drain`) and may
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
    /// `op` (`"shutdown"` or `"drain"`) of the set at `tasks` timed out with `names` still
    /// running.
    pub(super) fn new(tasks: String, op: &'static str, names: Vec<String>) -> Self {
        ShutdownTimeout { tasks, op, names }
    }

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

    /// The name of the [`Tasks`](super::Tasks) that was shut down (its path, for a child set).
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

/// The [cause](crate::context::Context::cause) of a task's cancellation when its [`Tasks`](super::Tasks) shuts down, so
/// that a task can tell a shutdown from its caller giving up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{Context, Func, Tasks};
/// use async_tasks::task::ShuttingDown;
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
    /// The name of the [`Tasks`](super::Tasks) shutting down (its path, for a child set).
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

/// Closes `set` and cancels every task of it and its descendants, now and to come, with
/// [`ShuttingDown`] as the cause (unless something canceled it first).
pub(super) fn cancel_all(set: &Arc<Set>) {
    set.shut_down(Some(Arc::new(ShuttingDown {
        tasks: set.path.to_string(),
    })));
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
