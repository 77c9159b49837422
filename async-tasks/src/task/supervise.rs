//! How one task of a set runs: its membership of the set (counted, listed, metered), and
//! the supervising futures that poll it — a runner's run, or a spawned closure — with its
//! span entered and the thread marked (`current.rs`), catching its panics.
//!
//! # Invariants
//!
//! 1. **A task never unwinds into tokio**: every call into the user's code — the runner's
//!    `run` (also the synchronous part before it returns a future), polling its future,
//!    dropping it, a spawned closure — happens inside `catch_unwind`, with the run's span
//!    entered and the thread marked.
//! 2. **A failed call's span is left on the thread only for a failure's report**, taken in
//!    the same poll (`current.rs`, invariant 2); a panic raised in a poll and not claimed
//!    by its report is reported at the poll's end as caught inside the run (`raised.rs`).
//! 3. **A task's membership is the last thing its future drops** (see [`Task`]).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Span;

use super::current::{mark, panics_kept, stashed, take_failed_call};
use super::listing::{TaskName, Ticket};
use super::raised;
use super::report::{Next, Who, conclude, conclude_run, runner_name};
use super::set::{Ancestors, Set};
use super::task_error::TaskError;
use crate::context::Context;
use crate::loom::interleave;
use crate::metrics::TaskMeter;
use crate::outcome::{Ended, Outcome, catch_sync};
use crate::runner::{BoxError, Runner};

/// After a supervised poll (`polled`) that left something on the thread: drops a failed
/// call's span unless the run just failed (its report takes it, invariant 2), and reports
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
    if panics_kept() {
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

    /// The name the task is listed by, if it is (read from the listing: for a rare report).
    fn listed_name(&self) -> Option<String> {
        let (ticket, set) = (self.ticket?, self.set.as_ref()?);
        set.listing.name(ticket).map(|name| name.to_string())
    }

    pub(crate) fn set(&self) -> &Arc<Set> {
        self.set
            .as_ref()
            .expect("a task's set is only away while it is polled")
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
        let _entered = span.enter();
        let _mark = mark(&mut self.set);
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
/// goes last (see [`Member`]). The future captures it whole (its body borrows all of it
/// first: an `async` block otherwise captures only the fields it uses, each on its own) and
/// uses it in place, so that the order holds however the future ends: finished, or dropped
/// (aborted) before or after its first poll.
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

    /// One run of `runner` (a one-shot run's, or a loop iteration's): metered, supervised,
    /// metered; how it ended.
    ///
    /// # Cancel safety
    ///
    /// Dropped (its task aborted), it drops the runner's future where it stands, inside the
    /// guard; the membership records the task `Aborted` when it drops.
    ///
    /// Metered from this call (made in the poll that awaits it) to the poll that returns
    /// its outcome: a plain future rather than an `async fn`, one layer less for every loop
    /// iteration and every spawned future, which is copied whole on spawn.
    #[inline]
    pub(crate) fn once<'a, R: Runner + ?Sized>(&'a mut self, runner: &'a R) -> Supervised<'a, R> {
        self.member.meter().start();
        Supervised {
            runner,
            run: self,
            fut: None,
        }
    }

    /// The one call of `f` (a spawned task's): metered, supervised, metered; how it ended.
    ///
    /// # Cancel safety
    ///
    /// As [`once`](Run::once): `f`, or the future it made, is dropped where it stands.
    ///
    /// Metered as [`once`](Run::once) is, and a plain future for the same reason.
    #[inline]
    pub(crate) fn call<F, Fut, T, E>(&mut self, f: F) -> Called<'_, F, Fut>
    where
        F: FnOnce(Context) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        self.member.meter().start();
        Called {
            f: Some(f),
            fut: None,
            run: self,
        }
    }

    /// The task ends with `outcome`: unlisted (as `outcome` says, for a report being made),
    /// then reported by the name `name` gives (from the name it was listed by, if it was,
    /// and its set), and concluded: its value, or how it did not succeed.
    #[inline]
    pub(crate) fn end<T, N>(&mut self, outcome: Outcome<T>, name: N) -> Result<T, TaskError>
    where
        N: for<'s> FnOnce(Option<&'s str>, &'s Set) -> &'s str,
    {
        let (listed, set, span) = self.unlist(|| outcome.ended());
        let who = || Who::run(set, name(listed.as_deref(), set));
        conclude(outcome, span, who, Next::Ends)
    }

    /// [`end`](Run::end) for a run whose result nobody waits for (a runner's): the same
    /// report, nothing to hand back (and no error made for a cancellation).
    #[inline]
    pub(crate) fn end_run<N>(&mut self, outcome: Outcome, name: N)
    where
        N: for<'s> FnOnce(Option<&'s str>, &'s Set) -> &'s str,
    {
        let (listed, set, span) = self.unlist(|| outcome.ended());
        let who = || Who::run(set, name(listed.as_deref(), set));
        conclude_run(outcome, span, who, Next::Ends);
    }

    /// Unlists the task as `ended` says: the name it was listed by (if it was), its set and
    /// its span, for its report.
    #[inline]
    fn unlist(&mut self, ended: impl FnOnce() -> Ended) -> (Option<TaskName>, &Arc<Set>, &Span) {
        let listed = self.member.finish(ended);
        (listed, self.member.set(), &self.span)
    }
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
        if stashed() {
            let set = this.run.member.set();
            let name = || runner_name(runner).map_or_else(|| set.name.to_string(), Into::into);
            settle(&polled, this.run, name);
        }
        let ended = match polled {
            // The common case, kept short: the run finished.
            Ok(Poll::Ready(Outcome::Finished(()))) => Poll::Ready(Outcome::Finished(())),
            polled => ended(polled),
        };
        if let Poll::Ready(outcome) = &ended {
            this.run.member.meter().finish(outcome.label());
        }
        ended
    }
}

/// A supervised poll: how the user's future ended (judged inside the guard, as judging
/// calls the error's `source()`), or the payload of its panic.
type Polled<T> = Result<Poll<Outcome<T>>, Box<dyn Any + Send>>;

/// How a supervised poll ended: pending, or the outcome. (What the poll left on the thread
/// was settled already: a failed call's span is left for the report, `conclude`, called
/// next in the same poll, only with a failure, invariant 2.)
#[inline]
fn ended<T>(polled: Polled<T>) -> Poll<Outcome<T>> {
    match polled {
        Ok(polled) => polled,
        Err(payload) => Poll::Ready(Outcome::Panicked(payload)),
    }
}

pin_project_lite::pin_project! {
    /// One call of a closure that is called once (a spawned task's): calls `f` with the
    /// run's context and polls the future it makes as the task ([`Member::poll_in`]); how it
    /// ended. A future of its own, as [`Supervised`] is: a spawned task's future holds it
    /// inline, and past 128 bytes every copy of that future on spawn calls `memcpy`.
    ///
    /// # Cancel safety
    ///
    /// Dropped (its task aborted), it drops `f`, or the future `f` made, where it stands;
    /// the thread's current set is restored within each poll, and the membership in `run`
    /// is the caller's, which records the task `Aborted` when it drops.
    pub(crate) struct Called<'a, F, Fut> {
        // Taken by the first poll, which calls it.
        f: Option<F>,
        // In an `Option`, so that it is dropped inside the guard once it is ready (its
        // `Drop` is the user's too).
        #[pin]
        fut: Option<Fut>,
        run: &'a mut Run,
    }
}

impl<F, Fut, T, E> Future for Called<'_, F, Fut>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Outcome<T>> {
        let this = self.project();
        let (run, f, mut fut) = (&mut **this.run, this.f, this.fut);
        // One guard for the call and the first poll, as `Supervised` has.
        let polled = run.poll_in(|ctx| {
            if let Some(f) = f.take() {
                fut.set(Some(f(std::mem::take(ctx))));
            }
            let Some(running) = fut.as_mut().as_pin_mut() else {
                unreachable!("polled again after it ended")
            };
            let polled = running.poll(cx);
            if polled.is_ready() {
                fut.set(None);
            }
            polled.map(|result| Outcome::from(result.map_err(Into::into)))
        });
        if stashed() {
            let name = || run.member.listed_name().unwrap_or_default();
            settle(&polled, run, name);
        }
        let ended = ended(polled);
        if let Poll::Ready(outcome) = &ended {
            run.member.meter().finish(outcome.label());
        }
        ended
    }
}
