//! How one task of a set runs: its membership of the set (counted, listed, metered), the
//! span of each run, the mark it leaves on the thread while polled, the supervising future
//! that catches its panics, and the report of how each run ended.
//!
//! # Invariants
//!
//! 1. **A task never unwinds into tokio**: every call into the user's code — the runner's
//!    `run` (also the synchronous part before it returns a future), polling its future,
//!    dropping it, a spawned closure — happens inside `catch_unwind`, with the run's span
//!    entered and the thread marked.
//! 2. **While a run is polled, `CURRENT` holds its set** (moved in from the [`Member`] and
//!    back out around each poll, so no reference count is touched): `Tasks::wait` refuses to
//!    wait for the task that calls it, and a traced call classes its error as its set does.
//! 3. **A failure is reported once**: one event (ERROR, or WARN when it is retried or its
//!    class says so) in the run's span — or, when the run is an `#[async_task]` call that
//!    failed with this very error (or panicked with this very payload), in the call's span,
//!    so that its fields are on the line — plus the failure status on the run's span. A
//!    cancellation is not reported.
//! 4. **A failed call's span is kept for its report only within the supervisor's poll** in
//!    which the call ended: it never outlives that poll, so no span is held open by it.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Span;
use tracing::field::Empty;

use super::listing::{TaskName, Ticket};
use super::raised::{self, CALL, PANICS, STASHED};
use super::set::{Ancestors, Set};
use crate::error_class::ErrorClass;
use crate::loom::interleave;
use crate::metrics::TaskMeter;
use crate::outcome::{
    Ended, Outcome, catch_sync, fields, mark_span_failed, message, panic_message,
};
use crate::{BoxError, Context, Runner, TaskError};

thread_local! {
    /// The set of the run being polled on this thread (invariant 2).
    static CURRENT: Cell<Option<Arc<Set>>> = const { Cell::new(None) };
    /// The span of an `#[async_task]` call that just failed on this thread, and what it
    /// failed with (invariant 4).
    static FAILED_CALL: Cell<Option<(Span, FailedWith)>> = const { Cell::new(None) };
}

/// Whether a supervised run is being polled on this thread: a panic here is caught by its
/// supervisor and reported.
fn supervised() -> bool {
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
/// report of the run it is the runner of (invariant 4). Only under a supervisor.
pub(crate) fn stash_failed_call(span: &Span, at: FailedWith) {
    if supervised() {
        FAILED_CALL.with(|stash| stash.set(Some((span.clone(), at))));
        STASHED.set(STASHED.get() | CALL);
    }
}

/// Takes the kept call span, if it failed with `at` itself.
fn take_failed_call(at: Option<FailedWith>) -> Option<Span> {
    if STASHED.get() & CALL == 0 {
        return None;
    }
    STASHED.set(STASHED.get() & !CALL);
    let (span, stashed) = FAILED_CALL.with(Cell::take)?;
    at.is_some_and(|at| at.is(stashed)).then_some(span)
}

/// After a supervised poll (`polled`) that left something on the thread: drops a failed
/// call's span unless the run just failed (its report takes it, invariant 4), and reports
/// the panics raised in the poll that did not end the run, caught inside it (`raised.rs`;
/// `task()` names the task, asked only then).
#[cold]
fn settle<T>(polled: &Polled<T>, run: &Run, task: impl FnOnce() -> String) {
    let (failed, ending) = match polled {
        Err(payload) | Ok(Poll::Ready(Outcome::Panicked(payload))) => (true, Some(&**payload)),
        Ok(Poll::Ready(Outcome::Failed(_))) => (true, None),
        Ok(_) => (false, None),
    };
    if !failed {
        take_failed_call(None);
    }
    if STASHED.get() & PANICS != 0 {
        raised::settle(ending, &run.span, &run.member.set().path, task);
    }
}

/// A task's membership of its set, for its whole life: the set (held, invariant 3 of the
/// set), its place in the listing, its metrics and its count in its set's tracker and its
/// ancestors'.
///
/// The last thing a task's future drops (see [`Task`]), and when dropped it lets go of the
/// count first and unlists the task last: whoever sees the task unlisted (a report waiting
/// for the tasks it aborted, `Listing::gone`) sees everything the task held dropped —
/// runner, future, pool slot — and `running()` not counting it.
pub(crate) struct Member {
    /// `None` only while the task is polled: then it is in `CURRENT`.
    set: Option<Arc<Set>>,
    ticket: Option<Ticket>,
    meter: TaskMeter,
    /// Taken by `Drop`, before the task is unlisted.
    counted: Option<Counted>,
}

/// A task's tokens in its set's tracker and its ancestors'.
struct Counted {
    _own: TaskTrackerToken,
    _ancestors: Option<Box<Ancestors>>,
}

impl Member {
    /// A task of `set`, listed with `ticket` if it is, metered under `name` (the runner's;
    /// `None` for the set's), and counted in `set`'s `running()` and its ancestors' from
    /// now on.
    #[inline]
    pub(crate) fn new(set: &Arc<Set>, ticket: Option<Ticket>, name: Option<&str>) -> Member {
        Member {
            meter: set.metrics.spawned(&set.path, name),
            counted: Some(Counted {
                _own: set.tracker.token(),
                _ancestors: set.ancestor_tokens(),
            }),
            set: Some(Arc::clone(set)),
            ticket,
        }
    }

    pub(crate) fn set(&self) -> &Arc<Set> {
        self.set
            .as_ref()
            .expect("a task's set is only away while it is polled")
    }

    /// The name the task is listed by, if it is (read from the listing: for a rare report).
    fn listed_name(&self) -> Option<String> {
        let (ticket, set) = (self.ticket?, self.set.as_ref()?);
        set.listing.name(ticket).map(|name| name.to_string())
    }

    pub(crate) fn meter(&mut self) -> &mut TaskMeter {
        &mut self.meter
    }

    /// The task ended as `ended`: hands that to the reports being collected and unlists
    /// it — unless a report named it aborted and waits for it to go, which it does only
    /// when this drops, last. Returns the name it was listed by (`None` if it was not).
    pub(crate) fn finish(&mut self, ended: impl FnOnce() -> Ended) -> Option<TaskName> {
        let ticket = self.ticket?;
        let set = self.set();
        let (name, gone) = set.listing.finish(ticket, &set.path, ended, false)?;
        if gone {
            self.ticket = None;
        }
        Some(name)
    }

    /// Runs `f` as the task: in `span`, with the thread marked, catching a panic.
    #[inline]
    fn poll_in<T>(&mut self, span: &Span, f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
        struct Mark<'a>(&'a mut Option<Arc<Set>>);
        impl Drop for Mark<'_> {
            fn drop(&mut self) {
                *self.0 = CURRENT.with(|current| current.replace(None));
            }
        }
        let _entered = span.enter();
        CURRENT.with(|current| current.set(self.set.take()));
        let _mark = Mark(&mut self.set);
        catch_sync(f)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // Everything else the task held is gone (see `Task`): no longer running, then no
        // longer listed. (The counts are tokio-util's, which loom does not see change: its
        // models may look on both sides.)
        interleave();
        drop(self.counted.take());
        interleave();
        if let (Some(ticket), Some(set)) = (self.ticket.take(), &self.set) {
            // Dropped before it finished (aborted, or gone with its runtime), or finished
            // while a report that named it aborted waits for it to go.
            let _ = set
                .listing
                .finish(ticket, &set.path, || Ended::Aborted, true);
        }
    }
}

/// What a task's future owns, in the order it drops it: `owned` (the runner, the closure
/// and the future it made, whatever else the task keeps) before `run`, whose membership
/// goes last (see [`Member`]). The future moves it whole into a local first thing, so that
/// the order holds however the future ends: finished, or dropped (aborted) before or after
/// its first poll.
pub(crate) struct Task<T> {
    pub(crate) owned: T,
    pub(crate) run: Run,
}

/// A task's state: its membership, and its run in flight — the context to hand it (taken
/// by the first poll, which starts it; left as the background context, which costs
/// nothing) and its span. A loop sets these anew for each iteration. One struct, so that a
/// supervisor borrows it with one reference: every byte of a task's future is copied on
/// spawn.
pub(crate) struct Run {
    pub(crate) ctx: Context,
    pub(crate) span: Span,
    pub(crate) member: Member,
}

impl Run {
    /// Runs `f` as the task: in its span, with the thread marked, catching a panic.
    #[inline]
    fn poll_in<T>(&mut self, f: impl FnOnce(&mut Context) -> T) -> Result<T, Box<dyn Any + Send>> {
        let Run { ctx, span, member } = self;
        member.poll_in(span, || f(ctx))
    }
}

/// The span of a run of `set`: named `"task"`, with the set's name as `task.name` and
/// `otel.name`, a child of the span current here.
#[inline]
pub(crate) fn task_span(set: &Set) -> Span {
    let name: &str = &set.name;
    tracing::info_span!(
        "task",
        task.name = name,
        otel.name = name,
        { fields::STATUS_CODE } = Empty,
        { fields::STATUS_DESCRIPTION } = Empty,
    )
}

/// [`task_span`] for a task with a name of its own (a spawned one): also `task`, its name,
/// so that what the task logs says which task it is.
pub(crate) fn named_task_span(set: &Set, task: &str) -> Span {
    let name: &str = &set.name;
    tracing::info_span!(
        "task",
        task.name = name,
        task,
        otel.name = name,
        { fields::STATUS_CODE } = Empty,
        { fields::STATUS_DESCRIPTION } = Empty,
    )
}

/// [`task_span`] starting a trace of its own (a background run's).
pub(crate) fn root_task_span(set: &Set) -> Span {
    let name: &str = &set.name;
    tracing::info_span!(
        parent: None,
        "task",
        task.name = name,
        otel.name = name,
        { fields::STATUS_CODE } = Empty,
        { fields::STATUS_DESCRIPTION } = Empty,
    )
}

/// [`task_span`] for one iteration of a loop, under `parent`: its number, and room for the
/// retry attempt.
pub(crate) fn iteration_span(set: &Set, parent: &Span, iteration: u64) -> Span {
    let name: &str = &set.name;
    tracing::info_span!(
        parent: parent,
        "task",
        task.name = name,
        otel.name = name,
        iteration,
        attempt = Empty,
        { fields::STATUS_CODE } = Empty,
        { fields::STATUS_DESCRIPTION } = Empty,
    )
}

/// The boxed future of one [`Runner::run`].
type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// One run of a runner: calls it and polls its future as the task ([`Run::poll_in`]),
/// and returns how it ended, with the span of the call that failed, if the runner is an
/// `#[async_task]` fn that did.
///
/// A future of its own rather than an `async` block: it is polled once per loop iteration,
/// so every layer counts, and it borrows its state rather than owning it (every spawned
/// future is copied whole on spawn, so each copy avoided counts).
pub(crate) struct Supervised<'a, R: ?Sized> {
    runner: &'a R,
    run: &'a mut Run,
    fut: Option<RunFuture<'a>>,
}

impl<'a, R: Runner + ?Sized> Supervised<'a, R> {
    pub(crate) fn new(runner: &'a R, run: &'a mut Run) -> Self {
        Supervised {
            runner,
            run,
            fut: None,
        }
    }
}

impl<R: Runner + ?Sized> Future for Supervised<'_, R> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // `Supervised` is `Unpin`: its future is already boxed.
        let this = &mut *self;
        let (runner, fut) = (this.runner, &mut this.fut);
        let polled = this.run.poll_in(|ctx| {
            let polled = fut
                .get_or_insert_with(|| runner.run(std::mem::take(ctx)))
                .as_mut()
                .poll(cx);
            if polled.is_ready() {
                // Dropped here, inside the guard: a `Drop` of the user's may panic too.
                *fut = None;
            }
            polled.map(Outcome::from)
        });
        // One flag read: a failed call or a panic left on the thread is the rare case.
        if STASHED.get() != 0 {
            let set = this.run.member.set();
            let name = || runner_name(runner).map_or_else(|| set.name.to_string(), Into::into);
            settle(&polled, this.run, name);
        }
        match polled {
            // The common case, kept short: the run finished.
            Ok(Poll::Ready(Outcome::Finished(()))) => Poll::Ready(Outcome::Finished(())),
            polled => ended(polled),
        }
    }
}

/// A supervised poll: how the user's future ended (judged inside the guard, as judging
/// calls the error's `source()`), or the payload of its panic.
type Polled<T> = Result<Poll<Outcome<T>>, Box<dyn Any + Send>>;

/// How a supervised poll ended: pending, or the outcome. (What the poll left on the thread
/// was settled already: a failed call's span is left for the report, `conclude`, called
/// next in the same poll, only with a failure, invariant 4.)
#[inline]
fn ended<T>(polled: Polled<T>) -> Poll<Outcome<T>> {
    match polled {
        Ok(polled) => polled,
        Err(payload) => Poll::Ready(Outcome::Panicked(payload)),
    }
}

/// One run of a closure that is called once (a spawned task): calls `f` with the run's
/// context and polls its future as the task ([`Member::poll_in`]).
///
/// # Cancel safety
///
/// Dropped (its task aborted), it drops `f`, or the future `f` made, where it stands; the
/// thread's current set is restored within each poll, and the membership in `run` is the
/// caller's, which records the task `Aborted` when it drops.
pub(crate) async fn supervise_once<F, Fut, T, E>(f: F, run: &mut Run) -> Outcome<T>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    let fut = match run.poll_in(|ctx| f(std::mem::take(ctx))) {
        Ok(fut) => fut,
        Err(payload) => return Outcome::Panicked(payload),
    };
    // Pinned here, not boxed: a spawned task's future holds it inline; in an `Option`, so
    // that it is dropped inside the guard once it is ready (its `Drop` is the user's too).
    let mut fut = pin!(Some(fut));
    poll_fn(|cx| {
        let polled = run.poll_in(|_| {
            let Some(running) = fut.as_mut().as_pin_mut() else {
                unreachable!("polled again after it ended")
            };
            let polled = running.poll(cx);
            if polled.is_ready() {
                fut.set(None);
            }
            polled.map(|result| Outcome::from(result.map_err(Into::into)))
        });
        if STASHED.get() != 0 {
            let name = || run.member.listed_name().unwrap_or_default();
            settle(&polled, run, name);
        }
        ended(polled)
    })
    .await
}

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

/// Reports how a run ended (invariant 3), escalates a final failure as the set says, and
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
        tracing::error!(
            target: "async_tasks",
            tasks = &*set.path,
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
    let at = call.as_ref().unwrap_or(span);
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
                (Say::Error, Next::GivesUp(failures)) => tracing::error!(
                    target: "async_tasks", parent: at,
                    task, tasks, iteration, attempt, failures, { fields::ERROR } = error,
                    "task \"{task}\" failed: {error} ({failures} failures in a row, giving up)"
                ),
                (Say::Error, _) => tracing::error!(
                    target: "async_tasks", parent: at,
                    task, tasks, iteration, attempt, { fields::ERROR } = error,
                    "task \"{task}\" failed: {error}"
                ),
                (Say::Warn, Next::RetriesIn(pause)) => {
                    let retry_in = Pause(pause);
                    tracing::warn!(
                        target: "async_tasks", parent: at,
                        task, tasks, iteration, attempt, %retry_in, { fields::ERROR } = error,
                        "task \"{task}\" failed: {error} (retrying in {retry_in})"
                    );
                }
                (Say::Warn, _) => tracing::warn!(
                    target: "async_tasks", parent: at,
                    task, tasks, iteration, attempt, { fields::ERROR } = error,
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
            tracing::error!(
                target: "async_tasks", parent: at,
                task, tasks, iteration, attempt, { fields::PANIC } = message,
                location = location.as_deref(),
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
