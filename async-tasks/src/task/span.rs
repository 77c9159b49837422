//! The spans of a set's runs, all of one shape: named `"task"`, with the set's name as
//! `task.name` and `otel.name` (so OpenTelemetry shows a run under its set's name), and room
//! for the failure status; a spawned task's also names the task, a loop iteration's its
//! number and attempt, and a background run's starts a trace of its own.

use tracing::Span;
use tracing::field::Empty;

use super::set::Set;
use crate::fields;

/// A `"task"` span of `$set` at INFO, with `$parent` (`parent: ...,`, or nothing for the
/// span current here) and `$extra` fields between the names and the status: the one shape
/// of a run's span.
macro_rules! run_span {
    ($set:expr, [$($parent:tt)*] $($extra:tt)*) => {{
        let name: &str = &$set.name;
        tracing::info_span!(
            $($parent)*
            "task",
            { fields::TASK_NAME } = name,
            { fields::OTEL_NAME } = name,
            $($extra)*
            { fields::STATUS_CODE } = Empty,
            { fields::STATUS_DESCRIPTION } = Empty,
        )
    }};
}

/// `span`, with a `follows_from` link to `from`: a run that starts a trace of its own
/// still points at what started it (OpenTelemetry exports the link).
fn linked(span: Span, from: &Span) -> Span {
    span.follows_from(from);
    span
}

/// The span of a run of `set`, a child of the span current here — or, in a set that
/// [starts a trace per run](crate::task::Tasks::with_root_spans), a root linked to it.
#[inline]
pub(crate) fn task_span(set: &Set) -> Span {
    if set.root_spans() {
        return linked(run_span!(set, [parent: None,]), &Span::current());
    }
    run_span!(set, [])
}

/// [`task_span()`] for a task with a name of its own (a spawned one): also `task`, its name,
/// so that what the task logs says which task it is.
pub(crate) fn named_task_span(set: &Set, task: &str) -> Span {
    if set.root_spans() {
        let span = run_span!(set, [parent: None,] { fields::TASK } = task,);
        return linked(span, &Span::current());
    }
    run_span!(set, [] { fields::TASK } = task,)
}

/// [`task_span()`] starting a trace of its own (a background run's).
pub(crate) fn root_task_span(set: &Set) -> Span {
    run_span!(set, [parent: None,])
}

/// [`task_span()`] for one iteration of a loop, under `parent`: its number, and room for the
/// retry attempt.
pub(crate) fn iteration_span(set: &Set, parent: &Span, iteration: u64) -> Span {
    if set.root_spans() {
        let span = run_span!(
            set,
            [parent: None,]
            { fields::ITERATION } = iteration,
            { fields::ATTEMPT } = Empty,
        );
        return linked(span, parent);
    }
    run_span!(
        set,
        [parent: parent,]
        { fields::ITERATION } = iteration,
        { fields::ATTEMPT } = Empty,
    )
}
