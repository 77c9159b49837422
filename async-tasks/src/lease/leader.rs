//! The leader state machine of a fleet-wide singleton: campaign for a lease, hold it while
//! a term's run goes on (renewing beside it), give the run a grace to stop when the lease is
//! lost, release it, and campaign again. What a term runs is the caller's (a set's loop);
//! this file knows leases, contexts and time, nothing of sets.
//!
//! # Invariants
//!
//! 1. **A term's run never outlives its lease, as far as this process's clock can tell.**
//!    The run's context is canceled with [`LeaseLost`] as soon as a renew says the term
//!    lost the lease, or when no renew has succeeded for `renew_deadline` since the start of
//!    the last one that did (a timer, not the renew's answer: a renew that never returns
//!    is given up at that deadline). The run then has until the earlier of `loss +
//!    (ttl - renew_deadline)` and `last good renew's start + ttl` — the earliest moment the
//!    store can have let the term expire — to stop, and is dropped (aborted) then. The run
//!    is not polled once the deadline has passed and before the loss is seen, and a
//!    process that was paused past the run's stop drops it as it wakes, unpolled.
//! 2. **The lease is released only once the term's run is gone** (ended, or dropped), so
//!    another replica never starts while this one's run still goes on; and a release names
//!    its term, so it never frees a later one.
//! 3. **Nothing granted is leaked.** An acquire in flight when the context ends is awaited
//!    (for at most `renew_deadline`) and what it granted is released; one given up (it
//!    hung past `renew_deadline`, or the leader was dropped) is handed to a detached task
//!    that releases whatever it grants; a held term whose leader is dropped (its task
//!    aborted) is released by a detached task. Detached work is bounded by `ttl`: past it, a
//!    grant has expired in the store anyway.
//! 4. **Every wait is bounded and cancel safe**: the store's calls by `renew_deadline`, the
//!    pauses by the context's closing.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tracing::Span;

use super::config::{Lease, Timings};
use super::lost::LeaseLost;
use super::store::LeaseStore;
use super::term::Term;
use crate::context::Context;
use crate::fields;
use crate::runner::BoxError;

/// The work a leader runs under each of its terms (a singleton's loop).
pub(crate) trait Terms {
    /// Runs the work of `term` with `ctx` (canceled with [`LeaseLost`] when the lease is
    /// lost), its spans under `span`, until it ends by itself — or is dropped, once the
    /// lease is lost and its grace is over.
    fn run<'a>(
        &'a mut self,
        term: &Term,
        ctx: Context,
        span: &Span,
    ) -> impl Future<Output = ()> + Send + 'a;

    /// The last term was lost, and its run is gone: it ended within its grace, or was
    /// dropped at the end of it (`aborted`), leaving whatever it had in flight. Called
    /// before the lease is released; the campaign goes on after it.
    fn lost(&mut self, aborted: bool);
}

/// How a term ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermEnd {
    /// Its run ended by itself while the lease was held.
    RunEnded,
    /// The lease was lost, and the run stopped within its grace.
    Lost,
    /// The lease was lost, and the run was dropped at the end of its grace.
    Aborted,
}

/// What the leader tells its owner as it goes (for snapshots and metrics).
pub(crate) trait Watch {
    /// This replica leads under `term` from now.
    fn leading(&self, term: &Term);
    /// This replica lost the lease (its runs are being canceled).
    fn lost(&self, lost: &LeaseLost);
    /// This replica no longer leads: the term's run is gone and the lease released.
    fn following(&self);
}

/// The span of one term: the lease, the holder and the fence, under `parent`; the runs of
/// the term sit under it.
pub(crate) fn term_span(parent: &Span, term: &Term) -> Span {
    tracing::info_span!(
        target: "async_tasks",
        parent: parent,
        "lease",
        { fields::LEASE_NAME } = term.name(),
        { fields::LEASE_HOLDER } = term.holder(),
        { fields::LEASE_FENCE } = term.fence(),
        { fields::OTEL_NAME } = %format_args!("lease {}", term.name()),
    )
}

/// Leads `lease` for as long as `ctx` is not closing: campaigns until this replica holds
/// it, runs `terms` under it, and campaigns again once the lease is lost and released.
/// Returns once `ctx` closes (or ends) while campaigning or after a loss, or
/// once a term's run ends by itself (the set closed, the loop failed or stopped): then the
/// lease has been released.
///
/// A term's context is a child of `ctx`, canceled with [`LeaseLost`] when the lease is
/// lost. Campaign events sit in `parent`; a term's in its span.
///
/// # Cancel safety
///
/// Dropped (its task aborted), it drops the term's run where it stands and hands what it
/// holds to a detached release (invariant 3): no lease is kept past its `ttl`, none is held
/// by a dropped acquire.
pub(crate) async fn lead<W: Watch, T: Terms>(
    lease: &Lease,
    ctx: &Context,
    parent: &Span,
    watch: &W,
    terms: &mut T,
) {
    loop {
        let Some((term, acquired_at)) = campaign(lease, ctx, parent).await else {
            return;
        };
        let span = term_span(parent, &term);
        tracing::event!(
            target: "async_tasks",
            parent: &span,
            tracing::Level::INFO,
            { fields::LEASE } = term.name(),
            { fields::HOLDER } = term.holder(),
            { fields::FENCE } = term.fence(),
            "lease \"{}\" taken: this replica leads (fence {})",
            term.name(),
            term.fence(),
        );
        watch.leading(&term);
        let held = Held::new(lease, term.clone());
        let (term_ctx, cancel) = ctx.with_cancel();
        let run = terms.run(&term, term_ctx, &span);
        let end = hold(lease, &term, acquired_at, run, &span, |lost| {
            watch.lost(lost);
            cancel.cancel_with(lost.clone());
        })
        .await;
        if end != TermEnd::RunEnded {
            terms.lost(end == TermEnd::Aborted);
        }
        held.release().await;
        watch.following();
        if end == TermEnd::RunEnded || ctx.is_closing() {
            return;
        }
    }
}

/// Tries to take the lease every `retry_every` until this replica holds it (the term, and
/// when its acquire started: the store's expiry counts from no earlier), or `ctx` closes.
///
/// # Cancel safety
///
/// Cancel safe: an acquire in flight is settled by a detached task (invariant 3).
async fn campaign(lease: &Lease, ctx: &Context, parent: &Span) -> Option<(Term, Instant)> {
    let timings = lease.timings();
    // Said once per campaign: a follower is quiet otherwise.
    let mut said_following = false;
    loop {
        if ctx.is_closing() {
            return None;
        }
        let started = Instant::now();
        let mut acquiring = Acquiring::start(lease);
        let acquired = tokio::select! {
            biased;
            acquired = timeout(timings.renew_deadline, acquiring.result()) => acquired,
            () = ctx.closing() => {
                // Whatever the store grants the acquire in flight is released, before the
                // singleton ends (invariant 3).
                acquiring.settle(timings.renew_deadline).await;
                return None;
            }
        };
        match acquired {
            Ok(Ok(Some(term))) => return Some((term, started)),
            // Another replica leads.
            Ok(Ok(None)) if !said_following => {
                said_following = true;
                tracing::event!(
                    target: "async_tasks",
                    parent: parent,
                    tracing::Level::INFO,
                    { fields::LEASE } = lease.name(),
                    "lease \"{}\" is held by another replica: following (trying to take it \
                     every {:?})",
                    lease.name(),
                    timings.retry_every,
                );
            }
            Ok(Ok(None)) => {}
            Ok(Err(err)) => {
                let message = crate::outcome::message(&*err);
                tracing::event!(
                    target: "async_tasks",
                    parent: parent,
                    tracing::Level::WARN,
                    { fields::LEASE } = lease.name(),
                    { fields::ERROR } = %message,
                    "could not campaign for lease \"{}\": {message} (trying again in {:?})",
                    lease.name(),
                    timings.retry_every,
                );
            }
            // Given up, not dropped: a detached task releases what it grants (`Acquiring`'s
            // drop).
            Err(_) => tracing::event!(
                target: "async_tasks",
                parent: parent,
                tracing::Level::WARN,
                { fields::LEASE } = lease.name(),
                "could not campaign for lease \"{}\": the store did not answer within {:?} \
                 (trying again in {:?})",
                lease.name(),
                timings.renew_deadline,
                timings.retry_every,
            ),
        }
        drop(acquiring);
        tokio::select! {
            biased;
            () = ctx.closing() => return None,
            () = sleep_until(started + timings.retry_every) => {}
        }
    }
}

/// Holds `term` while `run` goes on, renewing it beside the run, and says how the term
/// ended: the run ended by itself while the lease was held, or the lease was lost
/// (`on_loss` was called, and the run got its grace: invariant 1) and the run stopped, or
/// was dropped at the end of its grace.
///
/// # Cancel safety
///
/// Dropping it drops the run where it stands; the caller's `Held` releases the lease.
async fn hold<F: Future<Output = ()>>(
    lease: &Lease,
    term: &Term,
    acquired_at: Instant,
    run: F,
    span: &Span,
    on_loss: impl FnOnce(&LeaseLost),
) -> TermEnd {
    let mut run = pin!(run);
    let deadline = Deadline::new(acquired_at, lease.timings().renew_deadline);
    // A process that was paused (SIGSTOP, a suspended VM) past its deadline wakes with both
    // the run's timers and the renews' due: the run is not polled once the deadline has
    // passed, so that the loss is seen before the run takes another step (invariant 1).
    let gated = std::future::poll_fn(|cx| {
        if deadline.passed() {
            // The renews' timer, due at the deadline, wakes this task.
            return std::task::Poll::Pending;
        }
        run.as_mut().poll(cx)
    });
    let (lost, last_renewed) = tokio::select! {
        biased;
        () = gated => return TermEnd::RunEnded,
        lost = renew_until_lost(lease, term, acquired_at, &deadline, span) => lost,
    };
    let timings = lease.timings();
    let stop_by = (Instant::now() + timings.grace()).min(last_renewed + timings.ttl);
    tracing::event!(
        target: "async_tasks",
        parent: span,
        tracing::Level::WARN,
        { fields::LEASE } = term.name(),
        { fields::HOLDER } = term.holder(),
        { fields::FENCE } = term.fence(),
        "{lost}: canceling its runs",
    );
    on_loss(&lost);
    // Past `stop_by` already (the process was paused that long), the run is dropped
    // without another poll: `timeout_at` would poll it once first.
    if stop_by <= Instant::now() {
        tracing::event!(
            target: "async_tasks",
            parent: span,
            tracing::Level::WARN,
            { fields::LEASE } = term.name(),
            { fields::HOLDER } = term.holder(),
            { fields::FENCE } = term.fence(),
            "the run under lease \"{}\" (fence {}) was dropped without another step: this \
             process was paused past the time its run had to stop",
            term.name(),
            term.fence(),
        );
        return TermEnd::Aborted;
    }
    if timeout_at(stop_by, &mut run).await.is_ok() {
        return TermEnd::Lost;
    }
    tracing::event!(
        target: "async_tasks",
        parent: span,
        tracing::Level::ERROR,
        { fields::LEASE } = term.name(),
        { fields::HOLDER } = term.holder(),
        { fields::FENCE } = term.fence(),
        "the run under lease \"{}\" (fence {}) did not stop within its grace after the \
         lease was lost: aborted",
        term.name(),
        term.fence(),
    );
    // The run is dropped as this returns, before the caller releases the lease
    // (invariant 2).
    TermEnd::Aborted
}

/// Renews `term` every `retry_every` until it is lost (invariant 1): the loss, and the start
/// of the last renew that succeeded.
///
/// # Cancel safety
///
/// Cancel safe: a renew in flight is dropped, which a store's atomic operation allows.
async fn renew_until_lost(
    lease: &Lease,
    term: &Term,
    acquired_at: Instant,
    shared: &Deadline,
    span: &Span,
) -> (LeaseLost, Instant) {
    let Timings {
        ttl,
        renew_deadline,
        retry_every,
    } = lease.timings();
    let store = lease.store();
    let mut last_renewed = acquired_at;
    let mut last_error: Option<BoxError> = None;
    let mut next = acquired_at + retry_every;
    loop {
        let deadline = last_renewed + renew_deadline;
        sleep_until(next.min(deadline)).await;
        let started = Instant::now();
        if started >= deadline {
            return (gave_up(term, renew_deadline, last_error), last_renewed);
        }
        next = started + retry_every;
        match timeout_at(deadline, store.renew(term, ttl)).await {
            Ok(Ok(true)) => {
                last_renewed = started;
                last_error = None;
                shared.set(last_renewed + renew_deadline);
            }
            Ok(Ok(false)) => return (LeaseLost::not_held(term.clone()), last_renewed),
            Ok(Err(err)) => {
                let message = crate::outcome::message(&*err);
                tracing::event!(
                    target: "async_tasks",
                    parent: span,
                    tracing::Level::WARN,
                    { fields::LEASE } = term.name(),
                    { fields::HOLDER } = term.holder(),
                    { fields::FENCE } = term.fence(),
                    { fields::ERROR } = %message,
                    "renewing lease \"{}\" (fence {}) failed: {message} (trying again in {:?})",
                    term.name(),
                    term.fence(),
                    retry_every,
                );
                last_error = Some(err);
            }
            // The deadline: the next turn gives up.
            Err(_) => {}
        }
    }
}

/// When a term's renews run out, by this process's clock (the last good renew's start +
/// `renew_deadline`): set by the renews, read before each poll of the term's run.
struct Deadline {
    base: Instant,
    /// Past `base`, in nanoseconds.
    after: AtomicU64,
}

impl Deadline {
    fn new(acquired_at: Instant, renew_deadline: Duration) -> Deadline {
        let deadline = Deadline {
            base: acquired_at,
            after: AtomicU64::new(0),
        };
        deadline.set(acquired_at + renew_deadline);
        deadline
    }

    fn set(&self, at: Instant) {
        let after = u64::try_from((at - self.base).as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: written and read by one task (the renews and the run are polled by one
        // `select!`, one after the other), never concurrently.
        self.after.store(after, Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        // Relaxed: see `set`.
        let after = Duration::from_nanos(self.after.load(Ordering::Relaxed));
        Instant::now() >= self.base + after
    }
}

/// The loss of a term whose renews did not succeed in time: the last one failed, or none
/// answered.
fn gave_up(term: &Term, renew_deadline: Duration, last_error: Option<BoxError>) -> LeaseLost {
    match last_error {
        Some(err) => LeaseLost::store_failed(term.clone(), renew_deadline, err),
        None => LeaseLost::renew_timed_out(term.clone(), renew_deadline),
    }
}

/// An acquire in flight, owned so that it can outlive the campaign that started it.
type AcquireFuture = Pin<Box<dyn Future<Output = Result<Option<Term>, BoxError>> + Send>>;

/// One `try_acquire` in flight. Dropped before it answered, it hands the call to a detached
/// task that releases whatever it grants (invariant 3).
struct Acquiring {
    fut: Option<AcquireFuture>,
    store: Arc<dyn LeaseStore>,
    ttl: Duration,
}

impl Acquiring {
    fn start(lease: &Lease) -> Acquiring {
        let store = Arc::clone(lease.store());
        let (name, holder) = (lease.name().to_owned(), lease.holder_id().to_owned());
        let ttl = lease.timings().ttl;
        let fut: AcquireFuture = {
            let store = Arc::clone(&store);
            Box::pin(async move { store.try_acquire(&name, &holder, ttl).await })
        };
        Acquiring {
            fut: Some(fut),
            store,
            ttl,
        }
    }

    /// What the store answers.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the call stays in `self`, and is settled when `self` drops.
    async fn result(&mut self) -> Result<Option<Term>, BoxError> {
        let fut = self.fut.as_mut().expect("an acquire answers once");
        let result = fut.await;
        self.fut = None;
        result
    }

    /// Waits up to `limit` for the answer and releases what it grants.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what is still in flight is settled when `self` drops.
    async fn settle(&mut self, limit: Duration) {
        if let Ok(Ok(Some(term))) = timeout(limit, self.result()).await {
            let _ = timeout(limit, self.store.release(&term)).await;
        }
    }
}

impl Drop for Acquiring {
    fn drop(&mut self) {
        let Some(fut) = self.fut.take() else { return };
        let (store, ttl) = (Arc::clone(&self.store), self.ttl);
        detach(async move {
            // Past `ttl`, anything it granted has expired in the store.
            if let Ok(Ok(Some(term))) = timeout(ttl, fut).await {
                let _ = timeout(ttl, store.release(&term)).await;
            }
        });
    }
}

/// A term this replica holds, released on [`release`](Held::release) — or, if dropped
/// first (the leader's task aborted), by a detached task (invariant 3).
struct Held {
    term: Option<Term>,
    store: Arc<dyn LeaseStore>,
    timings: Timings,
}

impl Held {
    fn new(lease: &Lease, term: Term) -> Held {
        Held {
            term: Some(term),
            store: Arc::clone(lease.store()),
            timings: lease.timings(),
        }
    }

    /// Frees the lease if the term still holds it, so that another replica can take it
    /// at once; a release that fails or hangs leaves the term to expire.
    ///
    /// # Cancel safety
    ///
    /// Dropped, the release is handed to a detached task.
    async fn release(mut self) {
        let Some(term) = self.term.clone() else {
            return;
        };
        let released = timeout(self.timings.renew_deadline, self.store.release(&term)).await;
        self.term = None;
        match released {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                let message = crate::outcome::message(&*err);
                tracing::event!(
                    target: "async_tasks",
                    tracing::Level::WARN,
                    { fields::LEASE } = term.name(),
                    { fields::FENCE } = term.fence(),
                    { fields::ERROR } = %message,
                    "releasing lease \"{}\" (fence {}) failed: {message}; it expires within {:?}",
                    term.name(),
                    term.fence(),
                    self.timings.ttl,
                );
            }
            Err(_) => tracing::event!(
                target: "async_tasks",
                tracing::Level::WARN,
                { fields::LEASE } = term.name(),
                { fields::FENCE } = term.fence(),
                "releasing lease \"{}\" (fence {}) timed out; it expires within {:?}",
                term.name(),
                term.fence(),
                self.timings.ttl,
            ),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(term) = self.term.take() else { return };
        let (store, ttl) = (Arc::clone(&self.store), self.timings.ttl);
        detach(async move {
            let _ = timeout(ttl, store.release(&term)).await;
        });
    }
}

/// Runs `work` on the current runtime, if there is one that still takes tasks: a best
/// effort, from a `Drop` that cannot wait.
fn detach(work: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(work));
    }
}
