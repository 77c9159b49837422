//! [`run_group`]: runs runners together as one, stopping them all at the first failure.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{BoxError, Runner, run_close};
use crate::context::{Cause, Why};
use crate::context::{Context, ContextError};
use crate::fields;
use crate::outcome::{Outcome, catch, message, panic_message};
use crate::task::{claim_panic_location, resume_panic};

/// Runs `runners` concurrently as one [`Runner`], as Go's `async.RunGroup`.
///
/// Each run of the group runs every runner under a child of its context. The first runner
/// to fail (any error, cancellation included, or a panic) cancels that child, so the others
/// can stop. Each runner is
/// [closed](crate::runner::Closer) exactly once, right after its own run ends (also after a panic),
/// with the group's *own* context, which the group's cancellation does not reach, so
/// cleanup can still do its I/O. (Go's version closes with the already-canceled group
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
/// # Cancel safety
///
/// Dropping the group's run (its task aborted at the end of a shutdown report's grace
/// period, say) drops every member's run where it stands and closes none: a close is
/// async, and cannot run in a `Drop`. Cancel the group's context instead, and let it end:
/// that closes them all.
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

/// A group has no closer of its own: its run closes each member.
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

/// What stops the group: a member's failure (judged by its [`Outcome`]), held so that it
/// can be shared with the siblings it cancels (as their cause) and still be returned as it
/// was.
enum Stop {
    /// Returned an error; `quiet` when it is a cancellation (reported by nobody).
    Failed(Arc<RunGroupFailed>, bool),
    /// Panicked, and where (kept by `quiet_task_panics`' hook, taken when it was caught so
    /// that no other report takes it, given back when the panic is resumed).
    Panicked(Box<dyn Any + Send>, Option<String>),
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
                    // `run` is called inside the guard: a runner that panics before it
                    // returns its future stops the group like any other panic.
                    let stop = match catch(|| runner.run(group_ctx.clone())).await {
                        Outcome::Finished(()) | Outcome::Stopped(_) => None,
                        Outcome::Failed(err) => {
                            Some(Stop::Failed(Arc::new(RunGroupFailed(err)), false))
                        }
                        Outcome::Canceled(err) => {
                            Some(Stop::Failed(Arc::new(RunGroupFailed(err)), true))
                        }
                        Outcome::Panicked(payload) => {
                            let location = claim_panic_location(&*payload);
                            Some(Stop::Panicked(payload, location))
                        }
                    };
                    match &stop {
                        None => {}
                        Some(Stop::Failed(failed, _)) => cancel_group.cancel_because(Why {
                            reason: ContextError::Canceled,
                            cause: Some(Arc::clone(failed) as Cause),
                        }),
                        Some(Stop::Panicked(payload, _)) => cancel_group.cancel_with(format!(
                            "a runner of the group panicked: {}",
                            panic_message(&**payload)
                        )),
                    }
                    close(ctx, &**runner).await;
                    stop
                }
            })
            .collect();

        let mut first: Option<Stop> = None;
        while let Some(stop) = members.next().await {
            match (&first, stop) {
                (_, None) | (Some(_), Some(Stop::Failed(_, true))) => {}
                (None, failure) => first = failure,
                (Some(_), Some(Stop::Failed(failed, false))) => {
                    let error = message(&*failed.0);
                    tracing::event!(
                        target: "async_tasks",
                        tracing::Level::ERROR,
                        { fields::ERROR } = error,
                        "run_group: a runner failed after the group was stopped: {error}"
                    );
                }
                (Some(_), Some(Stop::Panicked(payload, location))) => {
                    let message = panic_message(&*payload);
                    tracing::event!(
                        target: "async_tasks",
                        tracing::Level::ERROR,
                        { fields::PANIC } = message,
                        { fields::LOCATION } = location,
                        "run_group: a runner panicked after the group was stopped: {message}"
                    );
                }
            }
        }
        // Every member is done and closed: drop what could still hold the first error (as a
        // cause), so that it can be returned as it was.
        drop(members);
        cancel_group.cancel();
        drop((group_ctx, cancel_group));
        match first {
            None => Ok(()),
            Some(Stop::Failed(failed, _)) => Err(match Arc::try_unwrap(failed) {
                Ok(failed) => failed.0,
                // A runner kept its context (and with it the cause) past its run.
                Err(shared) => Box::new(shared),
            }),
            Some(Stop::Panicked(payload, location)) => resume_panic(payload, location),
        }
    }
}

/// The [cause](Context::cause) with which [`run_group`] cancels the other runners when one
/// fails: that runner's error, also in its [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// use async_tasks::{run_group, BoxError, Context, Func, Runner};
/// use async_tasks::runner::RunGroupFailed;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let group = run_group(vec![
///     Box::new(Func::new(|_ctx| async { Err::<(), BoxError>("disk full".into()) })),
///     Box::new(Func::new(|ctx| async move {
///         ctx.done().await;
///         let cause = ctx.cause().unwrap();
///         let failed = cause.downcast_ref::<RunGroupFailed>().unwrap();
///         assert_eq!(failed.error().to_string(), "disk full");
///         Ok(())
///     })),
/// ]);
/// assert!(group.run(Context::background()).await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct RunGroupFailed(BoxError);

impl RunGroupFailed {
    /// The failing runner's error.
    #[must_use]
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for RunGroupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a runner of the group failed: {}", self.0)
    }
}

impl std::error::Error for RunGroupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Closes one member, reporting (not returning) a failure or panic of its close.
///
/// # Cancel safety
///
/// Dropping it drops the member's close where it stands: only when the whole group's run is
/// dropped (see [`run_group`]'s cancel safety).
async fn close(ctx: &Context, runner: &dyn Runner) {
    match catch(|| run_close(ctx, runner)).await {
        Outcome::Finished(()) | Outcome::Stopped(_) | Outcome::Canceled(_) => {}
        Outcome::Failed(err) => {
            let error = message(&*err);
            tracing::event!(
                target: "async_tasks",
                tracing::Level::ERROR,
                { fields::ERROR } = error,
                "run_group: closing a runner failed: {error}"
            );
        }
        Outcome::Panicked(payload) => {
            let message = panic_message(&*payload);
            let location = claim_panic_location(&*payload);
            tracing::event!(
                target: "async_tasks",
                tracing::Level::ERROR,
                { fields::PANIC } = message,
                { fields::LOCATION } = location,
                "run_group: closing a runner panicked: {message}"
            );
        }
    }
}
