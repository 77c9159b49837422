//! What [`Tasks::snapshot`](crate::task::Tasks::snapshot) returns: what a set and its children are running now,
//! without `tokio_unstable` — [`Snapshot`], [`TaskInfo`], [`TaskKind`].

use tokio::time::Instant;

use crate::lease::Term;

/// What started a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// [`Tasks::run`](crate::task::Tasks::run).
    Run,
    /// [`Tasks::run_loop`](crate::task::Tasks::run_loop) or
    /// [`Tasks::run_loop_with`](crate::task::Tasks::run_loop_with).
    Loop,
    /// [`Tasks::run_background`](crate::task::Tasks::run_background).
    Background,
    /// [`Pool::run`](crate::pool::Pool::run), [`Pool::spawn`](crate::pool::Pool::spawn) or
    /// [`Pool::try_spawn`](crate::pool::Pool::try_spawn).
    Pool,
    /// [`Tasks::spawn`](crate::task::Tasks::spawn).
    Spawned,
    /// [`Tasks::run_singleton`](crate::task::Tasks::run_singleton) or
    /// [`Tasks::run_singleton_with`](crate::task::Tasks::run_singleton_with): a loop that
    /// runs only while this replica holds its lease ([`TaskInfo::term`] says whether it does).
    Singleton,
}

/// One listed task in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's name: the runner's [`name`](crate::runner::Runner::name), the name given to
    /// [`Tasks::spawn`](crate::task::Tasks::spawn), or its set's name.
    pub name: String,
    /// The path of the set it belongs to: its name for a root set, then each child's name
    /// after a `/` (`svc/jobs` for a run of `svc.child("jobs")` or `svc.pool("jobs", n)`).
    pub tasks: String,
    /// What started it.
    pub kind: TaskKind,
    /// When it was started (tokio's clock, so a paused test clock shows in it).
    pub started_at: Instant,
    /// For a loop, the iteration running or last run (1, 2, ...; 0 before the first).
    pub iteration: Option<u64>,
    /// For a loop, the last error an iteration returned (not a cancellation), if any.
    pub last_error: Option<String>,
    /// For a pool job accepted by [`Pool::try_spawn`](crate::pool::Pool::try_spawn) into the
    /// pool's queue: `true` while it waits there for a slot.
    pub queued: bool,
    /// For a singleton, the term under which this replica leads it now; `None` while it
    /// campaigns (another replica leads, or none does), and for every other kind of task.
    pub term: Option<Term>,
}

/// What a [`Tasks`](crate::task::Tasks) and its child sets are running, from [`Tasks::snapshot`](crate::task::Tasks::snapshot).
///
/// Listed are every loop, background task, spawned task and pool run, and every one-shot
/// run whose runner has a name ([`Func::named`](crate::runner::Func::named),
/// [`#[async_task]`](crate::async_task)). Unnamed one-shot runs of [`Tasks::run`](crate::task::Tasks::run) are only
/// counted, in `unlisted`: they are the hot path, and listing one would cost more than the
/// rest of its spawn. Name a runner to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The listed tasks, oldest first.
    pub tasks: Vec<TaskInfo>,
    /// How many unnamed one-shot runs are running besides.
    pub unlisted: usize,
}
