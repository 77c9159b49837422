//! The atomics and locks this crate owns, from `std` normally and from `loom` when built
//! with `RUSTFLAGS="--cfg async_tasks_loom"` for model checking.
//!
//! Only the crate's own synchronisation goes through here. Reference counts (`Arc`, `Weak`)
//! and tokio's primitives (`Notify`, `Mutex`, timers) are used as they are: they are not what
//! our models check, and tokio verifies its own with loom.

#[cfg(not(async_tasks_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
#[cfg(not(async_tasks_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(async_tasks_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
#[cfg(async_tasks_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: every critical section in this crate leaves its data
/// consistent before anything that can panic, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a loom model may run another thread, next to a change loom does not see: std's
/// reference counts (`Arc`, `Weak`) and tokio-util's tracker counts, at which loom switches
/// nothing. A model of a race with such a change (another thread letting go of the last
/// count but ours; a task's counts going before it is unlisted) needs a switch there.
/// Nothing at all outside the models.
#[inline(always)]
pub(crate) fn interleave() {
    #[cfg(async_tasks_loom)]
    loom::thread::yield_now();
}
