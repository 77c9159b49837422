//! The one way a task of a set starts: [`start`] lists it (unless it is an unnamed
//! one-shot run, which is only counted), spawns it on the set's tracker (a named tokio task
//! under `tokio_unstable`, for tokio-console), and hands the listing its abort handle.
//! Every kind of task goes through it: a runner run once ([`start_runner`]: `run`,
//! `run_background`, a pool's runs), a closure called once ([`start_closure`]: `spawn`, a
//! pool's spawned jobs), and a loop (`looping.rs`).
//!
//! A run's own choreography — metered, supervised, metered, unlisted, reported, its runner
//! dropped — is [`Run::once`], [`Run::call`] and [`Run::end`] (`supervise.rs`), written
//! once for all of them.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::Span;

use super::handle::TaskHandle;
use super::listing::{LoopStats, TaskName, Ticket};
use super::report::{drop_runner, runner_name};
use super::set::Set;
use super::snapshot::TaskKind;
use super::span::named_task_span;
use super::supervise::{Member, Run, Task};
use crate::context::Context;
use crate::runner::{BoxError, Runner};

/// How a task is listed: by name, as a kind, with a loop's live stats.
pub(super) struct Listed {
    pub(super) name: TaskName,
    pub(super) kind: TaskKind,
    pub(super) stats: Option<Arc<LoopStats>>,
}

impl Listed {
    pub(super) fn new(name: TaskName, kind: TaskKind) -> Listed {
        Listed {
            name,
            kind,
            stats: None,
        }
    }
}

/// The name a task of `set` goes by: its runner's, or the set's.
pub(super) fn task_name(set: &Set, runner: Option<&'static str>) -> TaskName {
    match runner {
        Some(name) => TaskName::Static(name),
        None => TaskName::Shared(Arc::clone(&set.name)),
    }
}

/// Starts a task of `set`: lists it as `listed` says (not at all for `None`), makes its
/// future from its ticket, spawns it on the current runtime counted by the set's tracker
/// (named `tokio_name`, or the set's name, for tokio-console), and gives the listing its
/// abort handle.
///
/// # Panics
///
/// Outside a tokio runtime, tokio panics here with "there is no reactor running, must be
/// called from the context of a Tokio 1.x runtime", at the caller's line thanks to
/// `#[track_caller]` on every way of starting work.
#[track_caller]
#[inline]
pub(super) fn start<F>(
    set: &Arc<Set>,
    listed: Option<Listed>,
    tokio_name: Option<&str>,
    task: impl FnOnce(Option<Ticket>) -> F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let ticket = listed.map(|listed| set.listing.insert(listed.name, listed.kind, listed.stats));
    let handle = spawn_tracked(set, tokio_name, task(ticket));
    if let Some(ticket) = ticket {
        set.listing.set_abort(ticket, handle.abort_handle());
    }
    handle
}

/// Spawns `task` on the current runtime. It counts in `set`'s `running()` through the
/// `Member` it owns, which lets go of the count when the task's future drops it, last: a
/// tracker's own token, outside the future, would go after the task is unlisted.
#[track_caller]
#[inline]
fn spawn_tracked<F>(set: &Set, name: Option<&str>, task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(not(tokio_unstable))]
    {
        let _ = (name, set);
        tokio::spawn(task)
    }
    // With tokio_unstable, tokio-console shows each task under its runner's name.
    #[cfg(tokio_unstable)]
    {
        let name = name.unwrap_or(&set.name);
        tokio::task::Builder::new()
            .name(name)
            .spawn(task)
            .expect("spawning a named tokio task")
    }
}

/// Starts one run of `runner` (named `name`: its `Runner::name`, asked once by the caller)
/// as a task of `set`, with `ctx` and `span`, listed as `listed` says: `run`,
/// `run_background`, a pool's runs. Nobody waits for its result: it is reported.
#[track_caller]
#[inline]
pub(super) fn start_runner<R: Runner + 'static>(
    set: &Arc<Set>,
    runner: R,
    name: Option<&'static str>,
    listed: Option<Listed>,
    ctx: Context,
    span: Span,
) {
    start(set, listed, name, |ticket| {
        let mut task = Task {
            owned: runner,
            run: Run {
                ctx,
                span,
                member: Member::new(set, ticket, name),
            },
        };
        async move {
            // Captured whole (borrowed whole first: an `async` block captures only the
            // fields it uses otherwise), so that the runner drops before the membership
            // however the future ends (see `Task`); used in place, with no local held
            // across the await: every byte the future holds is copied on spawn, and past
            // 128 bytes each copy is a call to `memcpy` (several per spawn).
            let _whole: &mut Task<R> = &mut task;
            let outcome = task.run.once(&task.owned).await;
            // Its name asked again rather than kept, for the same reason.
            let runner = &task.owned;
            task.run
                .end_run(outcome, |_, set| runner_name(runner).unwrap_or(&set.name));
            drop_runner(task.owned, task.run.member.set());
        }
    });
}

/// Starts a call of `f` as a task of `set` named `name`, listed as `kind` (with the live
/// stats it tells the listing, if any), with a context joined to `ctx`, and returns its
/// handle: `spawn`, a pool's spawned jobs.
#[track_caller]
pub(super) fn start_closure<F, Fut, T, E>(
    set: &Arc<Set>,
    listed: (TaskKind, Option<Arc<LoopStats>>),
    ctx: &Context,
    name: Cow<'static, str>,
    f: F,
) -> TaskHandle<T>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
    T: Send + 'static,
{
    let name = match name {
        Cow::Borrowed(name) => TaskName::Static(name),
        Cow::Owned(name) => TaskName::Shared(name.into()),
    };
    // Metered by a name of its own only when it is a literal: a name made per task
    // (`job-7`) would make a metric series per task.
    let metered = match &name {
        TaskName::Static(name) => Some(*name),
        TaskName::Shared(_) => None,
    };
    let (kind, stats) = listed;
    let listed = Listed {
        name: name.clone(),
        kind,
        stats,
    };
    let handle = start(set, Some(listed), Some(&name), |ticket| {
        let mut task = Task {
            owned: f,
            run: Run {
                ctx: ctx.join(&set.ctx),
                span: named_task_span(set, &name),
                member: Member::new(set, ticket, metered),
            },
        };
        async move {
            // Captured whole (borrowed whole first: an `async` block captures only the
            // fields it uses otherwise), so that `f`, and the future it makes, drop before
            // the membership however the future ends (see `Task`); used in place, not moved
            // into a local, which would hold a second copy: every byte the future holds is
            // copied on spawn.
            let _whole: &mut Task<F> = &mut task;
            let outcome = task.run.call(task.owned).await;
            // Its name comes back from the listing, for the same reason.
            task.run
                .end(outcome, |listed, _| listed.unwrap_or_default())
        }
    });
    TaskHandle::new(handle, name, Arc::clone(&set.path))
}
