//! `Tasks::run_loop` and `Tasks::run_loop_with`: one task that runs its runner over and
//! over, as a [`LoopPolicy`] says.

use std::sync::Arc;

use tracing::field::Empty;

use super::Tasks;
use crate::policy::Retries;
use crate::registry::LoopStats;
use crate::report::{Outcome, Run, Supervised};
use crate::snapshot::TaskKind;
use crate::{Context, LoopPolicy, Runner, sleep};

impl Tasks {
    /// Runs `runner` over and over in a new tokio task until its context is done, it fails
    /// or it panics: the twin of Go's `Tasks.Loop` (`loop` is a keyword in Rust).
    ///
    /// The context is checked before each iteration, so a loop whose `ctx` is done already
    /// runs zero times. Each iteration runs in its own `"task"` span, a child of the span
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
    /// when it retries after failures). Every failure is reported as it happens; when the
    /// loop gives up, one more ERROR event says so, with the number of `failures` in a row.
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
        let mut listed =
            (self.shared.registry).insert(name, TaskKind::Loop, Some(Arc::clone(&stats)));
        let ticket = listed.ticket();
        let id = self.shared.id;
        let mut meter = self.shared.metrics.spawned(&self.shared.name, &runner);
        let ctx = ctx.join(&self.shared.ctx);
        let parent = tracing::Span::current();
        let this = self.clone();
        let task = async move {
            let mut iteration: u64 = 0;
            let mut retries = Retries::default();
            // How the loop ended, for a shutdown report: by its context unless said below.
            let mut last = Outcome::Finished;
            while !ctx.is_done() {
                iteration += 1;
                stats.set_iteration(iteration);
                let span = task_span!(this, parent: &parent, iteration = iteration);
                if retries.failures() > 0 {
                    span.record("attempt", retries.failures() + 1);
                }
                let mut run = Run::new(ctx.clone(), span, id);
                let started = meter.start();
                let outcome = Supervised::new(&runner, &mut run).await;
                meter.finish(started, &outcome);
                if let Outcome::Failed(err) = &outcome {
                    stats.set_last_error(err.to_string());
                }
                let pause = match &outcome {
                    Outcome::Finished | Outcome::Canceled(_) => {
                        retries = Retries::default();
                        policy.every
                    }
                    Outcome::Failed(_) => match policy.retry_after(&mut retries) {
                        Some(delay) => Some(delay),
                        None => {
                            if policy.retries() {
                                run.give_up(retries.failures());
                            }
                            last = outcome;
                            break;
                        }
                    },
                    Outcome::Panicked(_) | Outcome::Stopped => {
                        last = outcome;
                        break;
                    }
                };
                match pause {
                    Some(pause) => {
                        // Boxed, only when pausing: a timer is large, and inline it would
                        // grow every loop's state, which a cancel of many loops walks
                        // through (cancel latency of 10,000 loops: 2.0-2.2x the anchor
                        // inline, 1.7-1.8x boxed).
                        if Box::pin(sleep(&ctx, pause)).await.is_err() {
                            break;
                        }
                    }
                    // Yields only once tokio's budget for this task is spent, so a runner
                    // that returns at once cannot starve the runtime, at no cost otherwise.
                    None => tokio::task::consume_budget().await,
                }
            }
            listed.finish(&last);
        };
        // Boxed: a loop's state (policy, counters, the iteration in flight) is a few hundred
        // bytes, which tokio would copy several times on spawn; one allocation per loop is
        // cheaper, and a loop lives long.
        let handle = self.spawn(name, Box::pin(task));
        self.shared
            .registry
            .set_abort(ticket, handle.abort_handle());
    }
}
