//! [`Tasks::shutdown_report`](super::Tasks::shutdown_report): a shutdown that leaves nothing
//! behind and says who finished, was canceled, failed, panicked and was aborted —
//! [`ShutdownReport`] and [`TaskFailure`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::listing::{Ending, Ticket};
use super::set::{Collecting, Set};
use super::shutdown::{cancel_all, qualified, write_names};
use super::task_error::TaskError;
use super::wait::wait_checked;
use crate::outcome::{Ended, message};

/// A task that ended with an error or a panic during a shutdown, or whose failure shut
/// its set down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The task's name, as a [`ShutdownReport`] names tasks.
    pub name: String,
    /// The error's `Display`, or the panic's message.
    pub error: String,
}

impl TaskFailure {
    pub(crate) fn new(name: String, error: String) -> Self {
        TaskFailure { name, error }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

/// A failure is an error, so that a service's `main` can return the one that shut it down
/// (`report.cause` with `?`, or into an `anyhow::Error` or a [`BoxError`](crate::runner::BoxError)).
impl std::error::Error for TaskFailure {}

/// Who finished, was canceled, failed, panicked and was aborted during [`Tasks::shutdown_report`](super::Tasks::shutdown_report) (and
/// the [`Tasks::drain`](super::Tasks::drain) just before it, if there was one), by name, and what shut the set
/// down if a failure did.
///
/// It covers the whole shutdown, not the service's life: every task of the set's tree that
/// ended since the first close, drain or shutdown of the set or of any set in its tree (a
/// shutdown in two steps — a child drained first, then the rest — is reported whole, child
/// sets dropped meanwhile included). A run that ended before that is not in it — its
/// failure was reported when it happened, as an ERROR event — except the failure that shut
/// the set down (see [`Tasks::on_failure`](crate::task::Tasks::on_failure)), which is the
/// [`cause`](Self::cause) (its escalation shut the set down, so what ended since is in it).
/// A closed set may go on running one-shot work for long: the names kept for the report are
/// bounded (16,384 per set), the rest counted in `unlisted_finished`. A report takes what it
/// names: a later report starts afresh.
///
/// Tasks are named as in a [`Snapshot`](crate::task::Snapshot), and a task of a child set after
/// the child's path from the reported set: `poller` for the set's own task, `jobs/import`
/// for a task of `tasks.child("jobs")` (and `jobs` for one of its unnamed runs). Unnamed
/// one-shot runs of [`Tasks::run`](super::Tasks::run) are only counted (`unlisted_finished`,
/// `unlisted_running`) and cannot be aborted.
///
/// `Display` names them, a handful of each at most, after the cause (on a first line of its
/// own, when a failure shut the set down):
///
/// ```text
/// shut down by jobs/db-loop: connection refused
/// 3 finished (poller, jobs/export, 1 unnamed), 0 canceled, 1 failed (jobs/import: bad csv), 0 panicked, 1 aborted (stubborn)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The failure that shut the set down, if one did (see
    /// [`Tasks::on_failure`](crate::task::Tasks::on_failure)): the first thing to read.
    pub cause: Option<TaskFailure>,
    /// Listed tasks that ended normally during the grace period (or the drain before it).
    pub finished: Vec<String>,
    /// Listed tasks that ended by their cancellation during the grace period (or the drain
    /// before it): a run that returned its context's error (a canceled loop iteration, a
    /// spawned job cut off, a queued pool job that never started), what its
    /// [`TaskHandle`](super::TaskHandle) calls [`is_canceled`](super::TaskError::is_canceled).
    #[doc(alias = "cancelled")]
    pub canceled: Vec<String>,
    /// Listed tasks that ended with an error during the grace period (or the drain).
    pub failed: Vec<TaskFailure>,
    /// Listed tasks that panicked during the grace period (or the drain).
    pub panicked: Vec<TaskFailure>,
    /// Listed tasks still running when the grace period ran out (aborted), or aborted
    /// during it by their [`TaskHandle`](crate::task::TaskHandle).
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
        /// `, N what (a, b, c)`: the count, then a handful of the names, if any.
        fn list<T: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            what: &str,
            names: &[T],
        ) -> fmt::Result {
            write!(f, ", {} {what}", names.len())?;
            if !names.is_empty() {
                f.write_str(" (")?;
                write_names(f, names)?;
                f.write_str(")")?;
            }
            Ok(())
        }
        if let Some(cause) = &self.cause {
            // The first thing to read, on a line of its own.
            writeln!(f, "shut down by {cause}")?;
        }
        write!(
            f,
            "{} finished",
            self.finished.len() + self.unlisted_finished
        )?;
        if !self.finished.is_empty() {
            f.write_str(" (")?;
            write_names(f, &self.finished)?;
            if self.unlisted_finished > 0 {
                write!(f, ", {} unnamed", self.unlisted_finished)?;
            }
            f.write_str(")")?;
        }
        list(f, "canceled", &self.canceled)?;
        list(f, "failed", &self.failed)?;
        list(f, "panicked", &self.panicked)?;
        list(f, "aborted", &self.aborted)?;
        if self.unlisted_running > 0 {
            write!(f, ", {} unnamed still running", self.unlisted_running)?;
        }
        Ok(())
    }
}

/// Shuts `set` down and reports it: see `Tasks::shutdown_report`.
///
/// # Cancel safety
///
/// The tasks are canceled as soon as this is first polled. Dropped before `grace` runs
/// out, it skips the aborts and the report, and leaves nothing behind (its `Collecting`
/// stops collecting when dropped).
pub(super) async fn report(set: &Arc<Set>, grace: Duration) -> ShutdownReport {
    // Closed first: a set not closed yet starts its shutdown record, taken right below
    // (its own collecting is on before the records go, so nothing falls in between).
    set.close();
    let collecting = Collecting::start(set, false);
    // What ended since the tree started to shut down — the shutdown records of this set
    // and its descendants, and what the records of its ancestors hold of it — and during
    // the drains before: taken now, so that a drain that ends during this report hands
    // over nothing this report names from its own collecting.
    let (drained, not_named) = since_the_shutdown_began(set);
    let listed: usize = set.subtree().iter().map(|set| set.listing.len()).sum();
    let unlisted_before = set.tracker.len().saturating_sub(listed);
    cancel_all(set);
    let _ = tokio::time::timeout(grace, wait_checked(set, "shutdown_report")).await;

    let running = collecting.stop();
    // What ended during a drain just before, then during this report.
    let ended = collecting.take_after(drained);
    drop(collecting);
    let unlisted_running = set.tracker.len().saturating_sub(running.len());
    let base: &str = &set.path;
    let mut report = ShutdownReport {
        cause: shutdown_cause(set),
        unlisted_finished: unlisted_before.saturating_sub(unlisted_running) + not_named,
        unlisted_running,
        ..ShutdownReport::default()
    };
    for ending in ended {
        let name = qualified(base, &ending.set, &ending.name);
        match ending.ended {
            Ended::Finished => report.finished.push(name),
            Ended::Canceled => report.canceled.push(name),
            Ended::Failed(error) => report.failed.push(TaskFailure::new(name, error)),
            Ended::Panicked(error) => report.panicked.push(TaskFailure::new(name, error)),
            Ended::Aborted => report.aborted.push(name),
        }
    }
    let mut aborted: Vec<(Arc<Set>, Vec<Ticket>)> = Vec::new();
    for (set, task) in running {
        if let Some(abort) = task.abort {
            abort.abort();
        }
        report.aborted.push(qualified(base, &set.path, &task.name));
        match aborted.last_mut() {
            Some((last, tickets)) if Arc::ptr_eq(last, &set) => tickets.push(task.ticket),
            _ => aborted.push((set, vec![task.ticket])),
        }
    }
    report.aborted.sort();
    // Aborted is asked, not done: each goes at its next `.await`, when its runtime polls
    // it. Wait for that (bounded by a second `grace`, for a task that blocks its thread and
    // never gets there), so that none of them counts in `running()` after.
    let gone = async {
        for (set, tickets) in &aborted {
            set.listing.gone(tickets).await;
        }
    };
    let _ = tokio::time::timeout(grace, gone).await;
    report
}

/// What ended in `set`'s subtree since its shutdown began, each task once, and how many
/// more ended than the records could name (see `Collector::KEEPS`).
fn since_the_shutdown_began(set: &Arc<Set>) -> (Vec<Ending>, usize) {
    let (mut ended, mut overflow) = (Vec::new(), 0);
    for set in set.subtree() {
        let (here, counted) = set.take_drained();
        ended.extend(here);
        overflow += counted;
    }
    for ancestor in set.lineage().skip(1) {
        ended.extend(ancestor.copy_record_within(&set.path));
    }
    let mut seen = HashSet::new();
    ended.retain(|ending| seen.insert(ending.task()));
    (ended, usize::try_from(overflow).unwrap_or(usize::MAX))
}

/// The failure that shut `set` down, if one did.
fn shutdown_cause(set: &Set) -> Option<TaskFailure> {
    let cause = set.ctx.cause()?;
    let failure = cause.downcast_ref::<TaskError>()?;
    let error = match (failure.error(), failure.panic_message()) {
        (Some(err), _) => message(err),
        (None, Some(message)) => format!("panicked: {message}"),
        (None, None) => failure.to_string(),
    };
    Some(TaskFailure::new(
        qualified(&set.path, failure.tasks(), failure.name()),
        error,
    ))
}
