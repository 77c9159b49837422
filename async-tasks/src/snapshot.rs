//! What [`Tasks::snapshot`](crate::Tasks::snapshot) and
//! [`Tasks::shutdown_report`](crate::Tasks::shutdown_report) return: live introspection
//! without `tokio_unstable`, and who finished, failed, panicked or was aborted at shutdown.

use std::fmt;

use tokio::time::Instant;

/// What started a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// [`Tasks::run`](crate::Tasks::run).
    Run,
    /// [`Tasks::run_loop`](crate::Tasks::run_loop) or
    /// [`Tasks::run_loop_with`](crate::Tasks::run_loop_with).
    Loop,
    /// [`Tasks::run_background`](crate::Tasks::run_background).
    Background,
    /// [`Pool::run`](crate::Pool::run).
    Pool,
}

/// One listed task in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The runner's [`name`](crate::Runner::name), or the `Tasks`' name.
    pub name: String,
    /// What started it.
    pub kind: TaskKind,
    /// When it was started (tokio's clock, so a paused test clock shows in it).
    pub started_at: Instant,
    /// For a loop, the iteration running or last run (1, 2, ...; 0 before the first).
    pub iteration: Option<u64>,
    /// For a loop, the last error an iteration returned (not a cancellation), if any.
    pub last_error: Option<String>,
}

/// What a [`Tasks`](crate::Tasks) is running, from [`Tasks::snapshot`](crate::Tasks::snapshot).
///
/// Listed are every loop and background task, and every one-shot run whose runner has a
/// name ([`Func::named`](crate::Func::named), [`#[async_task]`](crate::async_task)).
/// Unnamed one-shot runs are only counted, in `unlisted`: they are the hot path, and
/// listing one would cost more than the rest of its spawn. Name a runner to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The listed tasks, oldest first.
    pub tasks: Vec<TaskInfo>,
    /// How many unnamed one-shot runs are running besides.
    pub unlisted: usize,
}

/// A task that ended with an error or a panic during a shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The task's name, as in a [`TaskInfo`].
    pub name: String,
    /// The error's `Display`, or the panic's message.
    pub error: String,
}

impl TaskFailure {
    pub(crate) fn new(name: String, error: String) -> Self {
        TaskFailure { name, error }
    }
}

/// Who finished, failed, panicked and was aborted during
/// [`Tasks::shutdown_report`](crate::Tasks::shutdown_report), by name.
///
/// Names are those of [`TaskInfo`]: listed tasks by name; unnamed one-shot runs are only
/// counted (`unlisted_finished`, `unlisted_running`) and cannot be aborted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Listed tasks that ended normally (or with a cancellation) during the grace period.
    pub finished: Vec<String>,
    /// Listed tasks that ended with an error during the grace period.
    pub failed: Vec<TaskFailure>,
    /// Listed tasks that panicked during the grace period.
    pub panicked: Vec<TaskFailure>,
    /// Listed tasks still running when the grace period ran out: aborted.
    pub aborted: Vec<String>,
    /// Unnamed one-shot runs that ended during the grace period.
    pub unlisted_finished: usize,
    /// Unnamed one-shot runs still running when the grace period ran out (not aborted: only
    /// listed tasks can be).
    pub unlisted_running: usize,
}

impl ShutdownReport {
    /// Whether everything ended by itself within the grace period: nothing aborted, nothing
    /// left running.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty() && self.unlisted_running == 0
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} finished, {} failed, {} panicked, {} aborted",
            self.finished.len() + self.unlisted_finished,
            self.failed.len(),
            self.panicked.len(),
            self.aborted.len()
        )?;
        if self.unlisted_running > 0 {
            write!(f, ", {} unnamed still running", self.unlisted_running)?;
        }
        Ok(())
    }
}
