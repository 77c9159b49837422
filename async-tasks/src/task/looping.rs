//! The loop behind `Tasks::run_loop` and `Tasks::run_loop_with`: one task that runs its
//! runner over and over, as a [`LoopPolicy`] says, until its context is done or its set
//! closes.

use std::sync::Arc;
use std::time::Duration;

use tracing::Span;

use super::listing::LoopStats;
use super::policy::{LoopPolicy, Retries};
use super::report::{Next, Who, conclude_run, drop_runner};
use super::set::Set;
use super::snapshot::TaskKind;
use super::span::iteration_span;
use super::start::{Listed, start, task_name};
use super::supervise::{Member, Run, Task};
use crate::context::Context;
use crate::fields;
use crate::outcome::{Ended, Outcome, catch_sync, labels, message, panic_message};
use crate::runner::Runner;

/// Starts a loop of `runner` as a task of `set`, with a context joined to `ctx`, repeating
/// as `policy` says: `Tasks::run_loop_with`.
#[track_caller]
pub(super) fn start_loop<R: Runner + 'static>(
    set: &Arc<Set>,
    ctx: &Context,
    runner: R,
    policy: LoopPolicy,
) {
    let name = runner.name();
    let looping = Looping::new(runner, name, policy);
    let listed = looping.listed(set, TaskKind::Loop);
    let ctx = ctx.join(&set.ctx);
    let parent = tracing::Span::current();
    start(set, Some(listed), name, |ticket| {
        let mut task = Task {
            owned: (looping, ctx, parent),
            run: Run {
                ctx: Context::background(),
                span: tracing::Span::none(),
                member: Member::new(set, ticket, name),
            },
        };
        // Boxed: a loop's state (policy, counters, the iteration in flight) is a few
        // hundred bytes, which tokio would copy several times on spawn; one allocation per
        // loop is cheaper, and a loop lives long.
        Box::pin(async move {
            // Captured whole (the body borrows all of it), so that the runner and the rest
            // drop before the membership (see `Task`); used in place, not moved into a
            // local, which would hold a second copy.
            let Task {
                owned: (looping, ctx, parent),
                run,
            } = &mut task;
            let ended = looping.iterate(run, ctx, parent).await;
            let Task {
                owned: (looping, ..),
                run,
            } = task;
            looping.end(run, ended);
        })
    });
}

/// A loop's state across its iterations (a singleton's, across its terms too): its runner,
/// policy and counters.
pub(super) struct Looping<R> {
    runner: R,
    name: Option<&'static str>,
    policy: LoopPolicy,
    stats: Arc<LoopStats>,
    iteration: u64,
    retries: Retries,
}

impl<R: Runner> Looping<R> {
    /// The loop of `runner` (named `name`, its `Runner::name` asked once).
    pub(super) fn new(runner: R, name: Option<&'static str>, policy: LoopPolicy) -> Self {
        Looping {
            runner,
            name,
            policy,
            stats: Arc::new(LoopStats::default()),
            iteration: 0,
            retries: Retries::default(),
        }
    }

    /// How the loop is listed in `set`: by its runner's name (or the set's), as `kind`, with
    /// its live stats.
    pub(super) fn listed(&self, set: &Set, kind: TaskKind) -> Listed {
        Listed {
            name: task_name(set, self.name),
            kind,
            stats: Some(Arc::clone(&self.stats)),
        }
    }

    /// The live stats it tells the listing (a singleton's term among them).
    pub(super) fn stats(&self) -> &Arc<LoopStats> {
        &self.stats
    }

    /// Runs iterations with `ctx` for as long as it is not closing (checked before each),
    /// each in its own span under `parent`, pausing and retrying as the policy says; returns
    /// how the loop ended, for a shutdown report: `Finished` when its context closed or
    /// ended (`Canceled` if its last iteration returned the context's error), or how its
    /// last iteration ended when that ended the loop (a failure the policy
    /// does not retry, a panic, a stop).
    ///
    /// # Cancel safety
    ///
    /// Dropped, it drops the iteration in flight where it stands (see [`Run::once`]); the
    /// counters are kept, so another call goes on where it stopped.
    pub(super) async fn iterate(&mut self, run: &mut Run, ctx: &Context, parent: &Span) -> Ended {
        // Whether the last iteration ended by its cancellation: then so did the loop.
        let mut canceled = false;
        // One atomic load a turn while the context is live: done and closing at once.
        while !ctx.is_closing() {
            self.iteration += 1;
            let iteration = self.iteration;
            self.stats.set_iteration(iteration);
            run.span = iteration_span(run.member.set(), parent, iteration);
            let failures = self.retries.failures();
            let attempt = (failures > 0).then(|| failures + 1);
            if let Some(attempt) = attempt {
                run.span.record(fields::ATTEMPT, attempt);
            }
            run.ctx = ctx.clone();
            let outcome = run.once(&self.runner).await;
            canceled = matches!(outcome, Outcome::Canceled(_));
            let next = match &outcome {
                Outcome::Finished(()) | Outcome::Canceled(_) => {
                    // A success starts the failures in a row over.
                    if attempt.is_some() {
                        self.retries = Retries::default();
                    }
                    None
                }
                Outcome::Failed(err) => {
                    self.stats.set_last_error(message(&**err));
                    let set = run.member.set();
                    Some(after_failure(
                        &self.policy,
                        &mut self.retries,
                        set,
                        self.name,
                    ))
                }
                Outcome::Panicked(_) | Outcome::Stopped(_) => Some(Next::Ends),
            };
            // How the loop ends, if this iteration ends it.
            let mut last = None;
            // Only a failure, a panic or a stop has anything to report: an iteration that
            // finished (the common case) goes straight on.
            if let Some(next) = next {
                if matches!(next, Next::Ends | Next::GivesUp(_)) {
                    last = Some(outcome.ended());
                }
                let name = self.name;
                let who = || {
                    let set = run.member.set();
                    Who {
                        set,
                        name: name.unwrap_or(&set.name),
                        iteration: Some(iteration),
                        // The event names the attempt that failed: 1 for a first failure.
                        attempt: Some(attempt.unwrap_or(1)),
                    }
                };
                conclude_run(outcome, &run.span, who, next);
            }
            // The iteration's span closes now, not at the next one.
            run.span = Span::none();
            let pause = match next {
                None => self.policy.every,
                Some(Next::RetriesIn(delay)) => Some(delay),
                Some(Next::Ends | Next::GivesUp(_)) => {
                    return last.unwrap_or(Ended::Finished);
                }
            };
            match pause {
                // Boxed, only when pausing: a timer is large, and inline it would grow every
                // loop's state, which a cancel of many loops walks through (cancel latency of
                // 10,000 loops: 2.0-2.2x the anchor inline, 1.7-1.8x boxed).
                Some(pause) => {
                    if !Box::pin(pause_unless_closing(ctx, pause)).await {
                        break;
                    }
                }
                // Yields only once tokio's budget for this task is spent, so a runner that
                // returns at once cannot starve the runtime, at no cost otherwise.
                None => tokio::task::consume_budget().await,
            }
        }
        if canceled {
            Ended::Canceled
        } else {
            Ended::Finished
        }
    }

    /// The iteration in flight, if any, was dropped where it stood (a singleton's, at the
    /// end of its grace after its lease was lost), and the loop goes on later: its span
    /// closes now, and its run is metered as aborted, as an aborted task's is.
    pub(super) fn abandon(&mut self, run: &mut Run) {
        run.span = Span::none();
        run.member.meter().finish(labels::ABORTED);
    }

    /// The loop's task ends as `ended` says: unlisted, then its runner dropped.
    pub(super) fn end(self, mut run: Run, ended: Ended) {
        let _ = run.member.finish(|| ended);
        drop_runner(self.runner, run.member.set());
    }
}

/// What a loop does after a failed iteration, as its policy says. The policy's backoff is
/// the user's code: one that panics ends the loop, and says so.
fn after_failure(
    policy: &LoopPolicy,
    retries: &mut Retries,
    set: &Set,
    name: Option<&str>,
) -> Next {
    match catch_sync(|| policy.retry_after(retries)) {
        Ok(Some(delay)) => Next::RetriesIn(delay),
        Ok(None) if policy.retries() => Next::GivesUp(retries.failures()),
        Ok(None) => Next::Ends,
        Err(payload) => {
            let task = name.unwrap_or(&set.name);
            tracing::event!(
                target: "async_tasks",
                tracing::Level::ERROR,
                { fields::TASK } = task,
                { fields::TASKS } = &*set.path,
                { fields::PANIC } = panic_message(&*payload),
                "the loop policy of task \"{task}\" panicked, ending the loop: {}",
                panic_message(&*payload),
            );
            Next::Ends
        }
    }
}

/// Waits `pause`, unless the context closes (or ends) first: `false` then.
///
/// # Cancel safety
///
/// Cancel safe: it only waits.
async fn pause_unless_closing(ctx: &Context, pause: Duration) -> bool {
    tokio::select! {
        biased;
        () = ctx.closing() => false,
        () = tokio::time::sleep(pause) => !ctx.is_closing(),
    }
}
