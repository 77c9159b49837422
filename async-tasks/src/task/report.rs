//! How a run that ended is reported: one event (ERROR, or WARN when it is retried or its
//! class says so) in the run's span — or, when the run is an `#[async_task]` call that
//! failed with this very error (or panicked with this very payload), in the call's span,
//! so that its fields are on the line — plus the failure status on the run's span; then
//! the set's escalation, and what the run gives back. A cancellation is not reported.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Span;

use super::current::{FailedWith, take_failed_call};
use super::error_class::ErrorClass;
use super::raised;
use super::set::Set;
use super::task_error::TaskError;
use crate::fields;
use crate::outcome::{Outcome, catch_sync, mark_span_failed, message, panic_message};
use crate::runner::Runner;

/// Who a run is, for its report.
pub(crate) struct Who<'a> {
    pub(crate) set: &'a Arc<Set>,
    /// The runner's name, or the set's.
    pub(crate) name: &'a str,
    /// A loop's iteration (1, 2, ...), and which attempt in a row it was (1 unless it
    /// retried after failures).
    pub(crate) iteration: Option<u64>,
    pub(crate) attempt: Option<u32>,
}

impl<'a> Who<'a> {
    /// A run of `set` named `name` that is not a loop's iteration.
    pub(crate) fn run(set: &'a Arc<Set>, name: &'a str) -> Who<'a> {
        Who {
            set,
            name,
            iteration: None,
            attempt: None,
        }
    }
}

/// How a loop goes on after a failed iteration, for its report.
#[derive(Clone, Copy)]
pub(crate) enum Next {
    /// Not a loop's retry: a failure is final.
    Ends,
    /// The loop tries again after this pause: a failure is a warning.
    RetriesIn(Duration),
    /// The loop gives up after this many failures in a row.
    GivesUp(u32),
}

/// What a failure's report says, by its class and what the loop does next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Say {
    Nothing,
    Warn,
    Error,
}

/// Reports how a run ended (see the module docs), escalates a final failure as the set says, and
/// returns what the run gives back: its value, or how it did not succeed. Called right
/// after the run ended, in the same poll: a failed call's span is taken from the thread.
///
/// `who` is asked only when there is something to report: a run that finished is the
/// common case, kept short. (It must not unwind: it asks a runner its name through
/// [`runner_name`].)
#[inline]
pub(crate) fn conclude<'w, T>(
    outcome: Outcome<T>,
    span: &Span,
    who: impl FnOnce() -> Who<'w>,
    next: Next,
) -> Result<T, TaskError> {
    match outcome {
        Outcome::Finished(value) => Ok(value),
        outcome => report(outcome, span, &who(), next),
    }
}

/// [`conclude`] for a run whose result nobody waits for (a runner's): the same report,
/// nothing to hand back.
#[inline]
pub(crate) fn conclude_run<'w>(
    outcome: Outcome,
    span: &Span,
    who: impl FnOnce() -> Who<'w>,
    next: Next,
) {
    match outcome {
        // Nothing to report, nobody to hand a result to: no `TaskError` is made.
        Outcome::Finished(()) | Outcome::Canceled(_) | Outcome::Stopped(_) => {}
        outcome => {
            let _ = report(outcome, span, &who(), next);
        }
    }
}

/// `runner.name()`, or `None` if it panics: for a report, which must not unwind.
pub(crate) fn runner_name<R: Runner + ?Sized>(runner: &R) -> Option<&'static str> {
    catch_sync(|| runner.name()).unwrap_or(None)
}

/// Drops a task's runner when its task ends, inside the panic guard: a runner's `Drop` is the
/// user's code too. A panic there is reported, and nothing else is lost.
pub(crate) fn drop_runner<R>(runner: R, set: &Set) {
    if let Err(payload) = catch_sync(move || drop(runner)) {
        let message = panic_message(&*payload);
        tracing::event!(
            target: "async_tasks",
            tracing::Level::ERROR,
            { fields::TASKS } = &*set.path,
            { fields::PANIC } = message,
            "dropping a runner of tasks \"{}\" panicked: {message}",
            set.path
        );
    }
}

/// [`conclude`] for a run that did not finish.
#[cold]
fn report<T>(outcome: Outcome<T>, span: &Span, who: &Who<'_>, next: Next) -> Result<T, TaskError> {
    let call = take_failed_call(match &outcome {
        Outcome::Failed(err) => Some(FailedWith::error(&**err)),
        Outcome::Panicked(payload) => Some(FailedWith::panic(&**payload)),
        _ => None,
    });
    // The innermost enabled span of the run: the call's, unless the subscriber filtered it
    // out (a `level = "debug"` call under an INFO filter), then the run's own.
    let at = call
        .as_ref()
        .filter(|call| !call.is_disabled())
        .unwrap_or(span);
    let (task, tasks) = (who.name, &*who.set.path);
    let (iteration, attempt) = (who.iteration, who.attempt);
    // `Some(panicked)` when the run failed for good: the set may escalate it.
    let escalate = match &outcome {
        Outcome::Finished(_) | Outcome::Stopped(_) | Outcome::Canceled(_) => None,
        Outcome::Failed(err) => {
            let say = match (who.set.classify(&**err), next) {
                (ErrorClass::Ignore, _) => Say::Nothing,
                (ErrorClass::Error, Next::Ends | Next::GivesUp(_)) => Say::Error,
                _ => Say::Warn,
            };
            // A string field (not `%err`), so that a console shows it quoted when it has
            // spaces; made only here, on the failure path.
            let error = message(&**err);
            let error = error.as_str();
            match (say, next) {
                (Say::Nothing, _) => {}
                (Say::Error, Next::GivesUp(failures)) => tracing::event!(
                    target: "async_tasks", parent: at,
                    tracing::Level::ERROR,
                    { fields::TASK } = task, { fields::TASKS } = tasks,
                    { fields::ITERATION } = iteration, { fields::ATTEMPT } = attempt,
                    { fields::FAILURES } = failures, { fields::ERROR } = error,
                    "task \"{task}\" failed: {error} ({failures} failures in a row, giving up)"
                ),
                (Say::Error, _) => tracing::event!(
                    target: "async_tasks", parent: at,
                    tracing::Level::ERROR,
                    { fields::TASK } = task, { fields::TASKS } = tasks,
                    { fields::ITERATION } = iteration, { fields::ATTEMPT } = attempt,
                    { fields::ERROR } = error,
                    "task \"{task}\" failed: {error}"
                ),
                (Say::Warn, Next::RetriesIn(pause)) => {
                    let retry_in = Pause(pause);
                    tracing::event!(
                        target: "async_tasks", parent: at,
                        tracing::Level::WARN,
                        { fields::TASK } = task, { fields::TASKS } = tasks,
                        { fields::ITERATION } = iteration, { fields::ATTEMPT } = attempt,
                        { fields::RETRY_IN } = %retry_in, { fields::ERROR } = error,
                        "task \"{task}\" failed: {error} (retrying in {retry_in})"
                    );
                }
                (Say::Warn, _) => tracing::event!(
                    target: "async_tasks", parent: at,
                    tracing::Level::WARN,
                    { fields::TASK } = task, { fields::TASKS } = tasks,
                    { fields::ITERATION } = iteration, { fields::ATTEMPT } = attempt,
                    { fields::ERROR } = error,
                    "task \"{task}\" failed: {error}"
                ),
            }
            if say == Say::Error {
                mark_span_failed(span, error);
            }
            (say == Say::Error).then_some(false)
        }
        Outcome::Panicked(payload) => {
            let message = panic_message(&**payload);
            let location = raised::claim(&**payload);
            tracing::event!(
                target: "async_tasks", parent: at,
                tracing::Level::ERROR,
                { fields::TASK } = task, { fields::TASKS } = tasks,
                { fields::ITERATION } = iteration, { fields::ATTEMPT } = attempt,
                { fields::PANIC } = message, { fields::LOCATION } = location.as_deref(),
                "task \"{task}\" panicked: {message}"
            );
            mark_span_failed(span, message);
            Some(true)
        }
    };
    let result =
        TaskError::from_outcome(outcome, || (who.name.to_owned(), Arc::clone(&who.set.path)));
    if let Err(failure) = &result {
        if failure.is_failure() || failure.is_panic() {
            who.set.keep_failure(failure);
        }
        if let Some(panicked) = escalate {
            who.set.escalate(failure.clone(), panicked);
        }
    }
    result
}

/// A pause as a report prints it: to the millisecond (a backoff's jitter makes its delays
/// `400.000006ms`), in seconds from one second on: `250ms`, `2s`, `1.5s`, `1m 30s`.
struct Pause(Duration);

impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis < 1000 {
            if millis == 0 && !self.0.is_zero() {
                return f.write_str("<1ms");
            }
            return write!(f, "{millis}ms");
        }
        let (minutes, millis) = (millis / 60_000, millis % 60_000);
        let (secs, millis) = (millis / 1000, millis % 1000);
        if minutes > 0 {
            write!(f, "{minutes}m")?;
            if secs == 0 && millis == 0 {
                return Ok(());
            }
            f.write_str(" ")?;
        }
        write!(f, "{secs}")?;
        if millis > 0 {
            let fraction = format!("{millis:03}");
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        f.write_str("s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_reads_to_the_millisecond() {
        let pause = |nanos: u64| Pause(Duration::from_nanos(nanos)).to_string();
        assert_eq!(pause(0), "0ms");
        assert_eq!(pause(900), "<1ms");
        assert_eq!(pause(400_000_006), "400ms");
        assert_eq!(pause(2_000_000_000), "2s");
        assert_eq!(pause(1_050_000_000), "1.05s");
        assert_eq!(pause(90_000_000_000), "1m 30s");
        assert_eq!(pause(120_000_000_000), "2m");
        assert_eq!(pause(3_723_400_000_000), "62m 3.4s");
    }
}
