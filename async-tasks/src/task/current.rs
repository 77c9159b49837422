//! The run polled on this thread: what a task's supervisor leaves on the thread while it
//! polls the task, for what runs inside it to read — the panic hook, a traced call, and
//! `Tasks::wait`'s check — and what those leave for the task's report.
//!
//! # Invariants
//!
//! 1. **While a run is polled, `CURRENT` holds its set** (moved in from the task's `Member`
//!    and back out around each poll, so no reference count is touched): `Tasks::wait`
//!    refuses to wait for the task that calls it, and a traced call classes its error as
//!    its set does.
//! 2. **A failed call's span is kept for its report only within the supervisor's poll** in
//!    which the call ended: it never outlives that poll, so no span is held open by it.
//! 3. **A panic's location is kept only for the report of that panic**, tied to its
//!    payload, and what a poll does not claim is reported as caught inside the run at its
//!    end (`raised.rs`).

use std::any::Any;
use std::cell::Cell;
use std::sync::Arc;

use tracing::Span;

use super::raised::{self, CALL, PANICS, STASHED};
use super::set::Set;
use crate::outcome::catch_sync;

thread_local! {
    /// The set of the run being polled on this thread (invariant 1).
    static CURRENT: Cell<Option<Arc<Set>>> = const { Cell::new(None) };
    /// The span of an `#[async_task]` call that just failed on this thread, and what it
    /// failed with (invariant 2). `raised::STASHED`'s `CALL` flag says whether it is set.
    static FAILED_CALL: Cell<Option<(Span, FailedWith)>> = const { Cell::new(None) };
}

/// Whether a supervised run is being polled on this thread: a panic here is caught by its
/// supervisor and reported.
pub(super) fn supervised() -> bool {
    CURRENT.with(|current| {
        let set = current.take();
        let supervised = set.is_some();
        current.set(set);
        supervised
    })
}

/// Called by the panic hook: keeps where the panic of `payload` was raised (`location()`
/// is called only then) for its report, if a run is polled on this thread, and says
/// whether one is (see `raised.rs`).
pub(crate) fn keep_panic_location(
    payload: &(dyn Any + Send),
    location: impl FnOnce() -> Option<String>,
) -> bool {
    let supervised = supervised();
    if supervised {
        raised::keep(payload, location());
    }
    supervised
}

/// Runs `f` with the set of the run being polled on this thread, if any.
pub(crate) fn with_current<T>(f: impl FnOnce(Option<&Arc<Set>>) -> T) -> T {
    CURRENT.with(|current| {
        let set = current.take();
        let result = catch_sync(|| f(set.as_ref()));
        current.set(set);
        result.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    })
}

/// What a call failed with, to recognise the same error (or panic payload) after it was
/// moved or resumed: a pointer to it, with its address (a `Box` keeps its heap address) and
/// its type's vtable, so that an error of another type, made where a dropped one lived, is
/// not taken for it. Never dereferenced.
#[derive(Clone, Copy)]
pub(crate) enum FailedWith {
    Error(*const (dyn std::error::Error + Send + Sync)),
    Panic(*const (dyn Any + Send)),
}

impl FailedWith {
    pub(crate) fn error(err: &(dyn std::error::Error + Send + Sync + 'static)) -> FailedWith {
        FailedWith::Error(std::ptr::from_ref(err))
    }

    pub(crate) fn panic(payload: &(dyn Any + Send)) -> FailedWith {
        FailedWith::Panic(std::ptr::from_ref(payload))
    }

    /// Whether both point at the same value, of the same type.
    fn is(self, other: FailedWith) -> bool {
        match (self, other) {
            // Address and vtable both (`ptr::eq` compares a wide pointer whole).
            (FailedWith::Error(a), FailedWith::Error(b)) => std::ptr::eq(a, b),
            (FailedWith::Panic(a), FailedWith::Panic(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

/// Keeps the span of an `#[async_task]` call that failed (or panicked) with `at`, for the
/// report of the run it is the runner of (invariant 2). Only under a supervisor.
pub(crate) fn stash_failed_call(span: &Span, at: FailedWith) {
    if supervised() {
        FAILED_CALL.with(|stash| stash.set(Some((span.clone(), at))));
        STASHED.set(STASHED.get() | CALL);
    }
}

/// Takes the kept call span, if it failed with `at` itself.
pub(super) fn take_failed_call(at: Option<FailedWith>) -> Option<Span> {
    if STASHED.get() & CALL == 0 {
        return None;
    }
    STASHED.set(STASHED.get() & !CALL);
    let (span, stashed) = FAILED_CALL.with(Cell::take)?;
    at.is_some_and(|at| at.is(stashed)).then_some(span)
}

/// Whether a supervised poll left anything on this thread for a report (a failed call's
/// span, panics raised): one flag read, the rare case.
#[inline]
pub(super) fn stashed() -> bool {
    STASHED.get() != 0
}

/// Whether panics raised in the poll in flight are kept (`raised.rs`).
pub(super) fn panics_kept() -> bool {
    STASHED.get() & PANICS != 0
}

/// Puts `set` on the thread as the run being polled, for as long as the returned mark
/// lives; the mark hands it back to `slot` when dropped (invariant 1).
pub(super) fn mark(slot: &mut Option<Arc<Set>>) -> Mark<'_> {
    CURRENT.with(|current| current.set(slot.take()));
    Mark(slot)
}

/// The thread's mark of the run being polled: see [`mark`].
pub(super) struct Mark<'a>(&'a mut Option<Arc<Set>>);

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        *self.0 = CURRENT.with(|current| current.replace(None));
    }
}
