//! The spawn every way of starting work goes through: a run is listed, its tokio task named,
//! supervised (span, report, caught panic) and tracked by its set.

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::supervise::{
    Member, Next, Run, Supervised, Task, Who, conclude_run, drop_runner, runner_name, task_span,
};
use super::{TaskKind, TaskName, Tasks, listing};
use crate::{Context, Runner};

impl Tasks {
    /// `run`, always listed (by the runner's name, or the set's) as `kind`: a pool's runs.
    #[track_caller]
    pub(crate) fn run_listed<R: Runner + 'static>(&self, kind: TaskKind, ctx: &Context, runner: R) {
        let name = runner.name();
        let ticket = self.list(self.task_name(name), kind);
        let (ctx, span) = (ctx.join(&self.set.ctx), task_span(&self.set));
        self.spawn_runner(runner, name, ctx, span, Some(ticket));
    }

    /// Lists a task about to be spawned.
    pub(super) fn list(&self, name: TaskName, kind: TaskKind) -> listing::Ticket {
        self.set.listing.insert(name, kind, None)
    }

    /// The name a task goes by: its runner's, or this set's.
    pub(super) fn task_name(&self, runner: Option<&'static str>) -> TaskName {
        match runner {
            Some(name) => TaskName::Static(name),
            None => TaskName::Shared(Arc::clone(&self.set.name)),
        }
    }

    /// Spawns one run of `runner` (of `run`, `run_background` or a pool), and gives the
    /// listing its abort handle if it is listed.
    #[track_caller]
    pub(super) fn spawn_runner<R: Runner + 'static>(
        &self,
        runner: R,
        name: Option<&'static str>,
        ctx: Context,
        span: tracing::Span,
        ticket: Option<listing::Ticket>,
    ) {
        let task = Task {
            owned: runner,
            run: Run {
                ctx,
                span,
                member: Member::new(&self.set, ticket, name),
            },
        };
        let handle = self.spawn_tracked(name, async move {
            // Moved in whole: the runner drops before the membership (see `Task`).
            let mut task = task;
            let Task { owned: runner, run } = &mut task;
            run.member.meter().start();
            let outcome = Supervised::new(&*runner, run).await;
            run.member.meter().finish(outcome.label());
            let _ = run.member.finish(|| outcome.ended());
            let who = || {
                let set = run.member.set();
                Who {
                    set,
                    // Asked again rather than kept: every byte the future holds is copied
                    // on spawn.
                    name: runner_name(&*runner).unwrap_or(&set.name),
                    iteration: None,
                    attempt: None,
                }
            };
            // Reported there; nobody waits for a runner's result.
            conclude_run(outcome, &run.span, who, Next::Ends);
            drop_runner(task.owned, task.run.member.set());
        });
        if let Some(ticket) = ticket {
            self.set.listing.set_abort(ticket, handle.abort_handle());
        }
    }

    /// Spawns `task` on the current runtime. It counts in this set's `running()` through
    /// the `Member` it owns, which lets go of the count when the task's future drops it,
    /// last: a tracker's own token, outside the future, would go after the task is unlisted.
    #[track_caller]
    pub(super) fn spawn_tracked<F>(&self, name: Option<&str>, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Outside a runtime, tokio panics here with "there is no reactor running, must be
        // called from the context of a Tokio 1.x runtime", at the caller's line thanks to
        // `#[track_caller]` on every `run*`.
        #[cfg(not(tokio_unstable))]
        {
            let _ = name;
            tokio::spawn(task)
        }
        // With tokio_unstable, tokio-console shows each task under its runner's name.
        #[cfg(tokio_unstable)]
        {
            let name = name.unwrap_or(&self.set.name);
            tokio::task::Builder::new()
                .name(name)
                .spawn(task)
                .expect("spawning a named tokio task")
        }
    }
}
