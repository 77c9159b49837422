//! The panics raised while a run is polled, handed from
//! [`quiet_task_panics`](super::quiet_task_panics)' hook to the reports: where each was
//! raised, tied to its payload.
//!
//! The hook runs where a panic is raised, before it unwinds: it cannot tell whether the
//! run's supervisor will catch it, or the task's own code (a `catch_unwind`, a catch-unwind
//! layer around a handler). So it keeps every panic raised in a supervised poll here, and:
//!
//! - the supervisor that catches a payload takes the entry of that payload ([`claim`]), for
//!   the run's report;
//! - a catch site of the crate that reports a panic itself (a `run_group`'s later failures, a
//!   classifier) takes its entry too; one that holds the payload to resume it later
//!   (`run_group`'s first failure) takes it, and puts it back right before resuming it
//!   ([`resume`]: `resume_unwind` calls no hook);
//! - what is left when the poll ends was caught inside the run: each is reported then, as an
//!   event of its own ([`settle`]).
//!
//! So an entry never outlives the poll in which it was made, and is used only by the report
//! of its own panic.
//!
//! A payload is matched to its entry by what stays the same from the hook to the catch: a
//! message (a `&'static str` or a `String`: what `panic!`, `assert!`, `unwrap`, `expect` and
//! an index out of bounds raise) by the address and length of its text, which is moved, not
//! copied, and the text itself; any other payload by its type. A payload raised with
//! `resume_unwind`, which calls no hook, matches no entry unless it is the payload of a panic
//! caught in the same poll (its entry then says where that panic was raised), or a message
//! of the same text at the same address (a literal, which the compiler may share between
//! places that write the same text).

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};

use tracing::Span;

use crate::fields;
use crate::outcome::panic_message;

/// How many panics one poll keeps at most: past that (a task that catches panics in a
/// loop, without an `.await`), the oldest are only counted, and reported as a number.
const KEPT: usize = 16;

thread_local! {
    /// What this thread holds for a report, as flags: [`CALL`] (the span of an
    /// `#[async_task]` call that failed, kept by `current.rs`) and [`PANICS`] (the panics
    /// kept here). One cell, so that every poll checks both with one read; no destructor.
    pub(super) static STASHED: Cell<u8> = const { Cell::new(0) };
    /// The panics raised in the poll in flight on this thread, oldest first.
    static KEPT_PANICS: RefCell<Vec<Raised>> = const { RefCell::new(Vec::new()) };
    /// How many more were raised in the poll in flight than [`KEPT`]: the oldest, dropped.
    static UNKEPT: Cell<usize> = const { Cell::new(0) };
}

/// The flag of [`STASHED`] for a failed call's span (`current.rs`).
pub(super) const CALL: u8 = 1;
/// The flag of [`STASHED`] for the panics kept here.
pub(super) const PANICS: u8 = 2;

/// One panic raised in a supervised poll.
struct Raised {
    key: Key,
    message: String,
    location: Option<String>,
}

/// What identifies a payload from the hook to its catch (see the module docs).
#[derive(PartialEq, Eq)]
enum Key {
    /// A message: the address and length of its text.
    Text(usize, usize),
    Other(TypeId),
}

impl Key {
    fn of(payload: &(dyn Any + Send)) -> Key {
        if let Some(text) = payload.downcast_ref::<&'static str>() {
            Key::Text(text.as_ptr() as usize, text.len())
        } else if let Some(text) = payload.downcast_ref::<String>() {
            Key::Text(text.as_ptr() as usize, text.len())
        } else {
            Key::Other((*payload).type_id())
        }
    }
}

/// Marks the thread as having panics kept, or not: one flag, read once per poll.
fn flag(kept: bool) {
    let stashed = STASHED.get();
    STASHED.set(if kept {
        stashed | PANICS
    } else {
        stashed & !PANICS
    });
}

/// Keeps a panic raised while a run is polled: its `payload`, and where it was raised.
/// Called by the panic hook, so it calls nothing of the user's (no event: see [`settle`]).
pub(super) fn keep(payload: &(dyn Any + Send), location: Option<String>) {
    let raised = Raised {
        key: Key::of(payload),
        message: panic_message(payload).to_owned(),
        location,
    };
    let full = KEPT_PANICS.with_borrow_mut(|kept| {
        let full = kept.len() == KEPT;
        if full {
            // Caught inside the run, or it would not be the oldest of so many.
            kept.remove(0);
        }
        kept.push(raised);
        full
    });
    if full {
        UNKEPT.set(UNKEPT.get() + 1);
    }
    flag(true);
}

/// Takes where the panic of `payload` was raised, if the hook kept it on this thread in the
/// poll in flight: its entry is the most recent one that matches the payload.
pub(crate) fn claim(payload: &(dyn Any + Send)) -> Option<String> {
    if STASHED.get() & PANICS == 0 {
        return None;
    }
    let key = Key::of(payload);
    let message = panic_message(payload);
    let (location, left) = KEPT_PANICS.with_borrow_mut(|kept| {
        let at = kept
            .iter()
            .rposition(|raised| raised.key == key && raised.message == message);
        let location = at.and_then(|at| kept.remove(at).location);
        (location, !kept.is_empty())
    });
    flag(left);
    location
}

/// Resumes the panic of `payload`, with `location` (where it was raised, taken by
/// [`claim`] when it was caught) kept again for the report of the run it unwinds.
pub(crate) fn resume(payload: Box<dyn Any + Send>, location: Option<String>) -> ! {
    if let Some(location) = location {
        let raised = Raised {
            key: Key::of(&*payload),
            message: panic_message(&*payload).to_owned(),
            location: Some(location),
        };
        KEPT_PANICS.with_borrow_mut(|kept| kept.push(raised));
        flag(true);
    }
    std::panic::resume_unwind(payload)
}

/// At the end of a poll of a run of the set at `tasks` (its task named by `name()`, asked
/// only if there is something to report): keeps the entry of `ending`, the panic that ends
/// the run, for its report, and reports every other panic kept in the poll as caught inside
/// the run, in `span`.
pub(super) fn settle(
    ending: Option<&(dyn Any + Send)>,
    span: &Span,
    tasks: &str,
    name: impl FnOnce() -> String,
) {
    let mut kept = KEPT_PANICS.take();
    let unkept = UNKEPT.take();
    let ending = ending.and_then(|payload| {
        let (key, message) = (Key::of(payload), panic_message(payload));
        let at = kept
            .iter()
            .rposition(|raised| raised.key == key && raised.message == message)?;
        Some(kept.remove(at))
    });
    if !kept.is_empty() || unkept > 0 {
        let task = name();
        let task = task.as_str();
        if unkept > 0 {
            tracing::event!(
                target: "async_tasks", parent: span, tracing::Level::ERROR,
                { fields::TASK } = task, { fields::TASKS } = tasks, { fields::PANICS } = unkept,
                "task \"{task}\" panicked {unkept} more times, and each panic was caught inside \
                 the run (only the last {KEPT} of a poll are kept)"
            );
        }
        for raised in &kept {
            report_caught(raised, span, tasks, task);
        }
    }
    let left = ending.is_some();
    if let Some(ending) = ending {
        KEPT_PANICS.with_borrow_mut(|kept| kept.push(ending));
    }
    flag(left);
}

/// Reports a panic raised in a run and caught inside it: one ERROR event in `span`.
fn report_caught(raised: &Raised, span: &Span, tasks: &str, task: &str) {
    let message = raised.message.as_str();
    tracing::event!(
        target: "async_tasks", parent: span, tracing::Level::ERROR,
        { fields::TASK } = task, { fields::TASKS } = tasks,
        { fields::PANIC } = message, { fields::LOCATION } = raised.location.as_deref(),
        "task \"{task}\" panicked, and the panic was caught inside the run: {message}"
    );
}
