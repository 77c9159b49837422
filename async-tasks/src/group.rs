//! [`run_group`]: runs runners together as one, stopping them all at the first failure.

use std::fmt;
use std::panic;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::report::{Outcome, catch, panic_message};
use crate::{BoxError, Context, Runner, run_close};

/// Runs `runners` concurrently as one [`Runner`]: the twin of Go's `async.RunGroup`.
///
/// Each run of the group runs every runner under a child of its context. The first runner
/// to fail (any error, cancellation included, or a panic) cancels that child, so the others
/// can stop. Each runner is
/// [closed](crate::Closer) exactly once, right after its own run ends (also after a panic),
/// with the group's *own* context, which the group's cancellation does not reach, so
/// cleanup can still do its I/O. (Go's version closes with the already-cancelled group
/// context.)
///
/// The group's run returns once every runner has finished and been closed: the first
/// failure's error, or `Ok(())`. A close that fails is reported as an ERROR event but does
/// not change the result; so is a failure that comes after the first one (unless it is just
/// the cancellation the first one caused), so nothing is lost. If the first failure was a panic, the group resumes
/// that panic once everything is closed.
///
/// The runners share the task the group runs in (they are polled together, like
/// `futures::join_all`), so one that blocks the thread blocks the others.
///
/// # Examples
///
/// ```
/// use async_tasks::{run_group, BoxError, Context, Func, Runner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let group = run_group(vec![
///     Box::new(Func::new(|_ctx| async { Err::<(), BoxError>("oh no".into()) })),
///     Box::new(Func::new(|ctx| async move {
///         ctx.done().await; // stopped by its sibling's failure
///         Ok(())
///     })),
/// ]);
/// let err = group.run(Context::background()).await.unwrap_err();
/// assert_eq!(err.to_string(), "oh no");
/// # }
/// ```
#[must_use]
pub fn run_group(runners: Vec<Box<dyn Runner>>) -> impl Runner {
    Group { runners }
}

struct Group {
    runners: Vec<Box<dyn Runner>>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("runners", &self.runners.len())
            .finish()
    }
}

#[async_trait::async_trait]
impl Runner for Group {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let (group_ctx, cancel_group) = ctx.with_cancel();
        let mut members: FuturesUnordered<_> = self
            .runners
            .iter()
            .map(|runner| {
                let (group_ctx, cancel_group, ctx) = (&group_ctx, &cancel_group, &ctx);
                async move {
                    let outcome = catch(runner.run(group_ctx.clone())).await;
                    if outcome.is_failure() {
                        cancel_group.cancel();
                    }
                    close(ctx, &**runner).await;
                    outcome
                }
            })
            .collect();

        let mut first: Option<Outcome> = None;
        while let Some(outcome) = members.next().await {
            match (&first, outcome) {
                (_, Outcome::Finished) | (Some(_), Outcome::Canceled(_)) => {}
                (None, failure) => first = Some(failure),
                (Some(_), Outcome::Failed(err)) => {
                    tracing::error!(error = %err, "run_group: runner failed after the group was stopped");
                }
                (Some(_), Outcome::Panicked(payload)) => {
                    tracing::error!(
                        panic = panic_message(&*payload),
                        "run_group: runner panicked after the group was stopped"
                    );
                }
            }
        }
        cancel_group.cancel();
        match first {
            None | Some(Outcome::Finished) => Ok(()),
            Some(Outcome::Failed(err) | Outcome::Canceled(err)) => Err(err),
            Some(Outcome::Panicked(payload)) => panic::resume_unwind(payload),
        }
    }

    fn as_closer(&self) -> Option<&dyn crate::Closer> {
        // Members are closed by the group's own run; closing the group closes nothing more.
        None
    }
}

/// Closes one member, reporting (not returning) a failure or panic of its close.
async fn close(ctx: &Context, runner: &dyn Runner) {
    match catch(run_close(ctx, runner)).await {
        Outcome::Finished | Outcome::Canceled(_) => {}
        Outcome::Failed(err) => tracing::error!(error = %err, "run_group: closing a runner failed"),
        Outcome::Panicked(payload) => tracing::error!(
            panic = panic_message(&*payload),
            "run_group: closing a runner panicked"
        ),
    }
}
