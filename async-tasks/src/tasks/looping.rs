//! `Tasks::run_loop` and `Tasks::run_loop_with`: one task that runs its runner over and
//! over, as a [`LoopPolicy`] says, until its context is done or its set closes.

use std::sync::Arc;
use std::time::Duration;

use super::Tasks;
use super::listing::LoopStats;
use super::snapshot::TaskKind;
use super::supervise::{
    Member, Next, Run, Supervised, Task, Who, conclude_run, drop_runner, iteration_span,
};
use crate::outcome::{Ended, Outcome, catch_sync, message, panic_message};
use crate::policy::Retries;
use crate::{Context, LoopPolicy, Runner};

impl Tasks {
    /// Runs `runner` over and over in a new tokio task until its context is done, its set
    /// closes, it fails or it panics, as Go's `Tasks.Loop` (`loop` is a keyword in
    /// Rust).
    ///
    /// The context is checked before each iteration, so a loop whose `ctx` is done already
    /// (or whose set is closed) runs zero times; a loop whose set closes
    /// ([`Tasks::close`], [`Tasks::drain`]) finishes the iteration in flight and starts no
    /// other. Each iteration runs in its own `"task"` span, a child of the span
    /// current here. An error that is [`ContextError::Canceled`](crate::ContextError::Canceled) does not stop the loop by
    /// itself (the context check does, as in Go); any other error and any panic are
    /// reported and end it.
    ///
    /// A runner that returns at once does not starve the runtime: each iteration spends
    /// tokio's cooperative budget, so the loop yields when the budget runs out.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("example");
    /// let count = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&count);
    /// tasks.run_loop(&Context::background(), Func::new(move |_ctx| {
    ///     let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
    ///     async move {
    ///         if n == 3 {
    ///             return Err("done after three".into()); // an error ends the loop
    ///         }
    ///         Ok(())
    ///     }
    /// }));
    /// tasks.wait().await;
    /// assert_eq!(count.load(Ordering::SeqCst), 3);
    /// # }
    /// ```
    #[track_caller]
    pub fn run_loop<R: Runner + 'static>(&self, ctx: &Context, runner: R) {
        self.run_loop_with(ctx, runner, LoopPolicy::new());
    }

    /// Runs `runner` over and over in a new tokio task, repeating as `policy` says: with a
    /// pause between iterations, retries after failures with backoff, a limit on failures in
    /// a row. See [`LoopPolicy`].
    ///
    /// Everything else is as for [`run_loop`](Tasks::run_loop) (which is this with
    /// [`LoopPolicy::new`]): the context is checked before each iteration, and each
    /// iteration runs in its own `"task"` span, with an `iteration` field (and `attempt`
    /// when it retries after failures). A failure the policy retries is one WARN event,
    /// `task "NAME" failed: ERROR (retrying in 2s)`, with the `attempt` that failed (1 for
    /// the first failure in a row) and the pause before the next (`retry_in`); the failure
    /// after which the policy gives up is one ERROR event,
    /// `task "NAME" failed: ERROR (3 failures in a row, giving up)`, with the number of
    /// `failures` in a row. A pause
    /// ends early, and the loop with it, when the set closes or the context ends.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::{Context, Func, LoopPolicy, Tasks};
    /// use async_tasks::backon::ConstantBuilder;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tasks = Tasks::new("poller");
    /// let policy = LoopPolicy::every(Duration::from_secs(30))
    ///     .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(1)))
    ///     .max_failures(3);
    /// // Fails every time: tried 3 times, 1 s apart, then the loop gives up.
    /// let start = tokio::time::Instant::now();
    /// tasks.run_loop_with(
    ///     &Context::background(),
    ///     Func::new(|_ctx| async { Err("upstream down".into()) }),
    ///     policy,
    /// );
    /// tasks.wait().await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # }
    /// ```
    #[track_caller]
    pub fn run_loop_with<R: Runner + 'static>(&self, ctx: &Context, runner: R, policy: LoopPolicy) {
        let name = runner.name();
        let stats = Arc::<LoopStats>::default();
        let ticket = self.set.listing.insert(
            self.task_name(name),
            TaskKind::Loop,
            Some(Arc::clone(&stats)),
        );
        let task = Task {
            owned: (
                runner,
                policy,
                ctx.join(&self.set.ctx),
                stats,
                tracing::Span::current(),
            ),
            run: Run {
                ctx: Context::background(),
                span: tracing::Span::none(),
                member: Member::new(&self.set, Some(ticket), name),
            },
        };
        let task = async move {
            // Moved in whole: the runner and the rest drop before the membership (see
            // `Task`).
            let mut task = task;
            let Task {
                owned: (runner, policy, ctx, stats, parent),
                run,
            } = &mut task;
            let mut iteration: u64 = 0;
            let mut retries = Retries::default();
            // How the loop ended, for a shutdown report: by its context unless said below.
            let mut last = Ended::Finished;
            // One atomic load a turn while the context is live: done and closing at once.
            while !ctx.is_closing() {
                iteration += 1;
                stats.set_iteration(iteration);
                run.span = iteration_span(run.member.set(), parent, iteration);
                let attempt = (retries.failures() > 0).then(|| retries.failures() + 1);
                if let Some(attempt) = attempt {
                    run.span.record("attempt", attempt);
                }
                run.ctx = ctx.clone();
                run.member.meter().start();
                let outcome = Supervised::new(&*runner, run).await;
                run.member.meter().finish(outcome.label());
                let next = match &outcome {
                    Outcome::Finished(()) | Outcome::Canceled(_) => {
                        // A success starts the failures in a row over.
                        if attempt.is_some() {
                            retries = Retries::default();
                        }
                        None
                    }
                    Outcome::Failed(err) => {
                        stats.set_last_error(message(&**err));
                        Some(after_failure(policy, &mut retries, run.member.set(), name))
                    }
                    Outcome::Panicked(_) | Outcome::Stopped(_) => Some(Next::Ends),
                };
                // Only a failure, a panic or a stop has anything to report: an iteration that
                // finished (the common case) goes straight on.
                if let Some(next) = next {
                    if matches!(next, Next::Ends | Next::GivesUp(_)) {
                        last = outcome.ended();
                    }
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
                run.span = tracing::Span::none();
                let pause = match next {
                    None => policy.every,
                    Some(Next::RetriesIn(delay)) => Some(delay),
                    Some(Next::Ends | Next::GivesUp(_)) => break,
                };
                match pause {
                    // Boxed, only when pausing: a timer is large, and inline it would grow
                    // every loop's state, which a cancel of many loops walks through (cancel
                    // latency of 10,000 loops: 2.0-2.2x the anchor inline, 1.7-1.8x boxed).
                    Some(pause) => {
                        if !Box::pin(pause_unless_closing(ctx, pause)).await {
                            break;
                        }
                    }
                    // Yields only once tokio's budget for this task is spent, so a runner
                    // that returns at once cannot starve the runtime, at no cost otherwise.
                    None => tokio::task::consume_budget().await,
                }
            }
            let _ = run.member.finish(|| last);
            drop_runner(task.owned.0, task.run.member.set());
        };
        // Boxed: a loop's state (policy, counters, the iteration in flight) is a few hundred
        // bytes, which tokio would copy several times on spawn; one allocation per loop is
        // cheaper, and a loop lives long.
        let handle = self.spawn_tracked(name, Box::pin(task));
        self.set.listing.set_abort(ticket, handle.abort_handle());
    }
}

/// What a loop does after a failed iteration, as its policy says. The policy's backoff is
/// the user's code: one that panics ends the loop, and says so.
fn after_failure(
    policy: &LoopPolicy,
    retries: &mut Retries,
    set: &super::set::Set,
    name: Option<&str>,
) -> Next {
    match catch_sync(|| policy.retry_after(retries)) {
        Ok(Some(delay)) => Next::RetriesIn(delay),
        Ok(None) if policy.retries() => Next::GivesUp(retries.failures()),
        Ok(None) => Next::Ends,
        Err(payload) => {
            let task = name.unwrap_or(&set.name);
            tracing::error!(
                target: "async_tasks",
                task,
                tasks = &*set.path,
                panic = panic_message(&*payload),
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
