//! The fleet-wide singleton behind `Tasks::run_singleton`: a loop (`looping.rs`) that runs
//! only while this replica holds a lease, driven by the lease's leader state machine
//! (`lease/leader.rs`). One task of the set, listed as a [`TaskKind::Singleton`] whose
//! snapshot says under which term this replica leads it.
//!
//! The loop keeps its state across terms (its iteration count, its failures in a row), and
//! every term's runs see the term as `Term::current()`. The singleton ends — releasing the
//! lease if it holds it — when its set closes or its context ends, or when the loop ends by
//! itself (a failure its policy does not retry, a panic, a `StopLoop`).

use std::future::Future;
use std::sync::Arc;

use tracing::Span;

use super::listing::LoopStats;
use super::looping::Looping;
use super::policy::LoopPolicy;
use super::set::Set;
use super::snapshot::TaskKind;
use super::start::start;
use super::supervise::{Member, Run, Task};
use crate::context::Context;
use crate::lease::leader::{self, Terms, Watch};
use crate::lease::{Lease, LeaseLost, Term};
use crate::metrics::LeaseMeter;
use crate::outcome::Ended;
use crate::runner::Runner;

/// Starts a singleton of `runner` as a task of `set`, with a context joined to `ctx`, held
/// by `lease`, looping as `policy` says.
///
/// # Panics
///
/// If the lease's timings do not keep `ttl > renew_deadline > retry_every > 0` (the message
/// names the rule and the values), or outside a tokio runtime.
#[track_caller]
pub(super) fn start_singleton<R: Runner + 'static>(
    set: &Arc<Set>,
    ctx: &Context,
    lease: Lease,
    runner: R,
    policy: LoopPolicy,
) {
    if let Err(rule) = lease.check() {
        panic!("{rule}");
    }
    let name = runner.name();
    let looping = Looping::new(runner, name, policy);
    let listed = looping.listed(set, TaskKind::Singleton);
    let watch = Watching {
        stats: Arc::clone(looping.stats()),
        meter: LeaseMeter::new(lease.name()),
    };
    let ctx = ctx.join(&set.ctx);
    let parent = Span::current();
    start(set, Some(listed), name, |ticket| {
        let mut task = Task {
            owned: (looping, lease, ctx, parent, watch),
            run: Run {
                ctx: Context::background(),
                span: Span::none(),
                member: Member::new(set, ticket, name),
            },
        };
        // Boxed, as a loop is: it lives long, and is large.
        Box::pin(async move {
            // Captured whole (the body borrows all of it) and used in place: everything the
            // singleton holds — its loop, lease, context and what it shows of its
            // leadership — drops before its membership (see `Task`).
            let Task {
                owned: (looping, lease, ctx, parent, watch),
                run,
            } = &mut task;
            let mut terms = Singleton {
                looping,
                run,
                ended: Ended::Finished,
            };
            leader::lead(lease, ctx, parent, watch, &mut terms).await;
            let ended = terms.ended;
            let Task {
                owned: (looping, ..),
                run,
            } = task;
            looping.end(run, ended);
        })
    });
}

/// A singleton's loop, run term after term.
struct Singleton<'a, R> {
    looping: &'a mut Looping<R>,
    run: &'a mut Run,
    /// How the last term's loop ended: how the singleton ended, when it ends.
    ended: Ended,
}

impl<R: Runner> Terms for Singleton<'_, R> {
    fn run<'a>(
        &'a mut self,
        term: &Term,
        ctx: Context,
        span: &Span,
    ) -> impl Future<Output = ()> + Send + 'a {
        let span = span.clone();
        // The term is the runs' `Term::current()`, in this task only.
        term.clone().scope(async move {
            self.ended = self.looping.iterate(self.run, &ctx, &span).await;
        })
    }

    fn lost(&mut self, aborted: bool) {
        // How a lost term's loop ended (a failure or a panic while it was being canceled,
        // already reported) is not how the singleton ends: it campaigns on.
        self.ended = Ended::Finished;
        if aborted {
            self.looping.abandon(self.run);
        }
    }
}

/// What a singleton's snapshot and metrics show of its leadership: whether it leads is
/// whether its stats hold a term.
struct Watching {
    stats: Arc<LoopStats>,
    meter: LeaseMeter,
}

impl Watch for Watching {
    fn leading(&self, term: &Term) {
        let _ = self.stats.set_term(Some(term.clone()));
        self.meter.leading();
    }

    fn lost(&self, lost: &LeaseLost) {
        self.meter.lost(lost.reason().label());
    }

    fn following(&self) {
        if self.stats.set_term(None).is_some() {
            self.meter.following();
        }
    }
}

impl Drop for Watching {
    /// A singleton dropped while it leads (its task aborted) leads no more.
    fn drop(&mut self) {
        self.following();
    }
}
