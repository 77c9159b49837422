//! [`Tasks::shutdown_report`]: a shutdown that leaves nothing behind and says who finished,
//! failed, panicked and was aborted — [`ShutdownReport`] and [`TaskFailure`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Tasks;
use super::listing::Ticket;
use super::set::{Collecting, Set};
use super::shutdown::{qualified, write_names};
use crate::TaskError;
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
/// (`report.cause` with `?`, or into an `anyhow::Error` or a [`BoxError`](crate::BoxError)).
impl std::error::Error for TaskFailure {}

/// Who finished, failed, panicked and was aborted during [`Tasks::shutdown_report`] (and
/// the [`Tasks::drain`] just before it, if there was one), by name, and what shut the set
/// down if a failure did.
///
/// It covers the shutdown, not the service's life: a run that ended before the drain (or the
/// report) began is not in it — its failure was reported when it happened, as an ERROR
/// event — except the failure that shut the set down (see
/// [`Tasks::on_failure`](crate::Tasks::on_failure)), which is the [`cause`](Self::cause).
/// After an escalation, the tasks the failure cancelled that ended before `main` asked for
/// the report are not in it either: the cause says why they stopped, and
/// [`snapshot`](Tasks::snapshot) says who is still there.
///
/// Tasks are named as in a [`Snapshot`](crate::Snapshot), and a task of a child set after
/// the child's path from the reported set: `poller` for the set's own task, `jobs/import`
/// for a task of `tasks.child("jobs")` (and `jobs` for one of its unnamed runs). Unnamed
/// one-shot runs of [`Tasks::run`] are only counted (`unlisted_finished`,
/// `unlisted_running`) and cannot be aborted.
///
/// `Display` names them, a handful of each at most, after the cause (on a first line of its
/// own, when a failure shut the set down):
///
/// ```text
/// shut down by jobs/db-loop: connection refused
/// 3 finished (poller, jobs/export, 1 unnamed), 1 failed (jobs/import: bad csv), 0 panicked, 1 aborted (stubborn)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The failure that shut the set down, if one did (see
    /// [`Tasks::on_failure`](crate::Tasks::on_failure)): the first thing to read.
    pub cause: Option<TaskFailure>,
    /// Listed tasks that ended normally (or with a cancellation) during the grace period
    /// (or the drain before it).
    pub finished: Vec<String>,
    /// Listed tasks that ended with an error during the grace period (or the drain).
    pub failed: Vec<TaskFailure>,
    /// Listed tasks that panicked during the grace period (or the drain).
    pub panicked: Vec<TaskFailure>,
    /// Listed tasks still running when the grace period ran out (aborted), or aborted
    /// during it by their [`TaskHandle`](crate::TaskHandle).
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
        let lists: [(&str, &[TaskFailure]); 2] =
            [("failed", &self.failed), ("panicked", &self.panicked)];
        for (what, failures) in lists {
            write!(f, ", {} {what}", failures.len())?;
            if !failures.is_empty() {
                f.write_str(" (")?;
                write_names(f, failures)?;
                f.write_str(")")?;
            }
        }
        write!(f, ", {} aborted", self.aborted.len())?;
        if !self.aborted.is_empty() {
            f.write_str(" (")?;
            write_names(f, &self.aborted)?;
            f.write_str(")")?;
        }
        if self.unlisted_running > 0 {
            write!(f, ", {} unnamed still running", self.unlisted_running)?;
        }
        Ok(())
    }
}

impl Tasks {
    /// Closes and cancels every task of this set and its child sets, waits up to `grace`
    /// for them all (together, not one after another), aborts the listed tasks still
    /// running, and says who finished, failed, panicked and was aborted, by name — and
    /// what shut the set down, if a failure did. After a [`drain`](Tasks::drain), the
    /// report also names who ended during the drain: with the service idiom
    /// (`drain` then `shutdown_report`), it tells the whole shutdown. (A drain still under
    /// way when the report starts counts as before it: what ended so far is the drain's,
    /// what ends from then on the report's, and each task is named once.)
    ///
    /// Like [`shutdown`](Tasks::shutdown), but it leaves no straggler behind: listed tasks
    /// (see [`Snapshot`](crate::Snapshot)) still running after `grace` are aborted with
    /// [`AbortHandle::abort`](tokio::task::AbortHandle::abort), and the report waits until
    /// they are dropped (at their next `.await`; for at most `grace` again, in case one
    /// blocks its thread) — whole: runner, future and, for a pool's run, its slot — so that
    /// [`running`](Tasks::running) counts none of them when it returns. Their [`TaskHandle`](crate::TaskHandle)s say
    /// [`is_aborted`](crate::TaskError::is_aborted). Unnamed one-shot runs of
    /// [`Tasks::run`] are only counted, and cannot be aborted.
    ///
    /// Several reports may be made at once (on a set and on its parent, say): each gets
    /// every task that ends while it waits.
    ///
    /// # Panics
    ///
    /// If called from inside one of the set's own tasks (see [`wait`](Tasks::wait)); the
    /// set is cancelled before the panic.
    ///
    /// # Cancel safety
    ///
    /// The tasks are cancelled as soon as this is first polled. Dropping the future before
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
    /// assert_eq!(
    ///     report.to_string(),
    ///     "1 finished (poller), 0 failed, 0 panicked, 1 aborted (stubborn)"
    /// );
    /// assert_eq!(tasks.running(), 0);
    /// # }
    /// ```
    pub async fn shutdown_report(&self, grace: Duration) -> ShutdownReport {
        let collecting = Collecting::start(&self.set, false);
        // What ended during a drain before: taken now, so that a drain that ends during
        // this report hands over nothing this report names from its own collecting.
        let drained = self.set.take_drained();
        let listed: usize = self.set.subtree().iter().map(|set| set.listing.len()).sum();
        let unlisted_before = self.running().saturating_sub(listed);
        self.cancel_all();
        let _ = tokio::time::timeout(grace, self.wait_checked("shutdown_report")).await;

        let running = collecting.stop();
        // What ended during a drain just before, then during this report.
        let ended = collecting.take_after(drained);
        drop(collecting);
        let unlisted_running = self.running().saturating_sub(running.len());
        let base = self.path();
        let mut report = ShutdownReport {
            cause: self.shutdown_cause(),
            unlisted_finished: unlisted_before.saturating_sub(unlisted_running),
            unlisted_running,
            ..ShutdownReport::default()
        };
        for ending in ended {
            let name = qualified(base, &ending.set, &ending.name);
            match ending.ended {
                Ended::Finished => report.finished.push(name),
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
        // Aborted is asked, not done: each goes at its next `.await`, when its runtime
        // polls it. Wait for that (bounded by a second `grace`, for a task that blocks its
        // thread and never gets there), so that none of them counts in `running()` after.
        let gone = async {
            for (set, tickets) in &aborted {
                set.listing.gone(tickets).await;
            }
        };
        let _ = tokio::time::timeout(grace, gone).await;
        report
    }

    /// The failure that shut this set down, if one did.
    fn shutdown_cause(&self) -> Option<TaskFailure> {
        let cause = self.set.ctx.cause()?;
        let failure = cause.downcast_ref::<TaskError>()?;
        let error = match (failure.error(), failure.panic_message()) {
            (Some(err), _) => message(err),
            (None, Some(message)) => format!("panicked: {message}"),
            (None, None) => failure.to_string(),
        };
        Some(TaskFailure::new(
            qualified(self.path(), failure.tasks(), failure.name()),
            error,
        ))
    }
}
