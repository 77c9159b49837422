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
//! 3. **A panic's location is kept only for the report of that panic**: see
//!    [`keep_panic_location`].

use std::cell::Cell;
use std::sync::Arc;

use tracing::Span;

use super::set::Set;
use crate::outcome::catch_sync;

thread_local! {
    /// The set of the run being polled on this thread (invariant 1).
    static CURRENT: Cell<Option<Arc<Set>>> = const { Cell::new(None) };
    /// The span of an `#[async_task]` call that just failed on this thread, and the address
    /// of its error (invariant 2).
    static FAILED_CALL: Cell<Option<(Span, usize)>> = const { Cell::new(None) };
    /// Whether `FAILED_CALL` holds a span: a flag with no destructor is the cheaper check on
    /// every poll.
    static STASHED: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of a supervised poll on this thread was raised, when
    /// [`quiet_task_panics`](crate::task::quiet_task_panics)' hook is installed: for its report.
    static PANIC_LOCATION: Cell<Option<String>> = const { Cell::new(None) };
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

/// Called by the panic hook: keeps where a panic was raised (`location()` is called only
/// then) for the report of the run it unwinds, and says whether there is one.
pub(crate) fn keep_panic_location(location: impl FnOnce() -> Option<String>) -> bool {
    let supervised = supervised();
    if supervised {
        PANIC_LOCATION.set(location());
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

/// Where a boxed error or panic payload lives, to recognise the same one after it was moved
/// or resumed (a `Box` keeps its heap address). Never dereferenced.
pub(crate) fn address<T: ?Sized>(boxed: &T) -> usize {
    std::ptr::from_ref::<T>(boxed).cast::<()>() as usize
}

/// Keeps the span of an `#[async_task]` call that failed (or panicked) with the error (or
/// payload) at `at`, for the report of the run it is the runner of (invariant 2). Only
/// under a supervisor.
pub(crate) fn stash_failed_call(span: &Span, at: usize) {
    if supervised() {
        FAILED_CALL.with(|stash| stash.set(Some((span.clone(), at))));
        STASHED.set(true);
    }
}

/// Takes the kept call span, if it failed with the error (or panicked with the payload) at
/// `at` itself.
#[inline]
pub(super) fn take_failed_call(at: Option<usize>) -> Option<Span> {
    if !STASHED.get() {
        return None;
    }
    take_stashed(at)
}

#[cold]
fn take_stashed(at: Option<usize>) -> Option<Span> {
    STASHED.set(false);
    let (span, stashed) = FAILED_CALL.with(Cell::take)?;
    (Some(stashed) == at).then_some(span)
}

/// Takes where the panic being reported was raised, if the hook kept it.
pub(super) fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.take()
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
