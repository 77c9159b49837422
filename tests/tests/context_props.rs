//! Property tests of `Context`: random trees of contexts, random cancels and clock moves,
//! each step checked against a plain model.
//!
//! Each case builds a tree under [`Context::background`] (`with_cancel`, `with_timeout`
//! and `with_deadline` children of random nodes, with `Duration::ZERO`, `Duration::MAX`,
//! overflowing timeouts, past, present and far-future instants), then applies random
//! steps: cancel a node, advance tokio's paused clock (also exactly onto a deadline), drop
//! a node's handles. After every step, every live node is checked against the model:
//!
//! - `err()` and `is_done()`: done once canceled (itself or an ancestor) or once its
//!   deadline has passed; the first reason wins and never changes;
//! - `deadline()`: the earliest of its own deadline and all its ancestors';
//! - a child made under a done parent is born done, with the parent's reason;
//! - `done()`: ready at once for a done node, pending for a live one; and a waiter parked in
//!   `done()` since the node was made has woken exactly when the node is done.
//!
//! The model is a list of nodes with a parent index, an own deadline and a state. It moves
//! eagerly: advancing the clock marks every live node whose deadline has passed, and a
//! cancel marks the node and its live descendants. The runtime is lazier (a passed deadline
//! is noticed when read), which the first-reason-wins rule must make invisible.
//!
//! Durations and offsets are whole milliseconds: tokio's timers tick in milliseconds, and a
//! parked `done()` wakes on its timer, so a deadline between two ticks would wake it up to a
//! millisecond late (`err()` itself is exact).
//!
//! 256 cases run by default (a few seconds in debug). To soak:
//!
//! ```text
//! PROPTEST_CASES=10000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p async-tasks-tests --test context_props
//! ```
//!
//! A failure prints the shrunk list of steps. Failures are not persisted to a
//! `proptest-regressions` file: a case worth keeping becomes a named test in `context.rs`
//! (or below).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_tasks::Context;
use async_tasks::context::{CancelHandle, ContextError};
use futures_util::FutureExt;
use proptest::prelude::*;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How far before the start a "past" instant may be. The paused clock starts at the real
/// monotonic clock, which may be small on a fresh machine: past instants saturate at the
/// earliest instant that exists.
const MAX_PAST_MS: u64 = 1_000;

/// About a thousand years: far beyond anything the clock reaches, yet representable.
const FAR: Duration = Duration::from_secs(1_000 * 365 * 24 * 60 * 60);

#[derive(Debug, Clone)]
enum Timeout {
    Zero,
    Max,
    /// So long that `now + timeout` overflows: no deadline of its own.
    Overflowing,
    Ms(u64),
    Far,
}

#[derive(Debug, Clone)]
enum At {
    PastMs(u64),
    Now,
    InMs(u64),
    Far,
}

#[derive(Debug, Clone)]
enum Kind {
    Cancel,
    Timeout(Timeout),
    Deadline(At),
}

#[derive(Debug, Clone)]
enum Step {
    /// A child of a random node (background included): the number is taken modulo the
    /// number of nodes made so far.
    Child(usize, Kind),
    Cancel(usize),
    /// Advance the paused clock by this many milliseconds.
    AdvanceMs(u64),
    /// Advance exactly onto the earliest deadline still ahead, if any.
    AdvanceToNextDeadline,
    /// Drop a node's context and handle (its waiter too). Its children keep it alive.
    Drop(usize),
}

fn timeout_strategy() -> impl Strategy<Value = Timeout> {
    prop_oneof![
        1 => Just(Timeout::Zero),
        1 => Just(Timeout::Max),
        1 => Just(Timeout::Overflowing),
        1 => Just(Timeout::Far),
        4 => (1..200u64).prop_map(Timeout::Ms),
    ]
}

fn at_strategy() -> impl Strategy<Value = At> {
    prop_oneof![
        1 => (1..=MAX_PAST_MS).prop_map(At::PastMs),
        1 => Just(At::Now),
        1 => Just(At::Far),
        4 => (1..200u64).prop_map(At::InMs),
    ]
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Cancel),
        timeout_strategy().prop_map(Kind::Timeout),
        at_strategy().prop_map(Kind::Deadline),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<usize>(), kind_strategy()).prop_map(|(parent, kind)| Step::Child(parent, kind)),
        2 => any::<usize>().prop_map(Step::Cancel),
        2 => (0..60u64).prop_map(Step::AdvanceMs),
        1 => Just(Step::AdvanceToNextDeadline),
        1 => any::<usize>().prop_map(Step::Drop),
    ]
}

/// One node of the model.
struct ModelNode {
    parent: Option<usize>,
    /// The effective deadline: the earliest of its own and its ancestors'.
    deadline: Option<Instant>,
    err: Option<ContextError>,
}

#[derive(Default)]
struct Model {
    /// Index 0 is the background context.
    nodes: Vec<ModelNode>,
}

impl Model {
    fn new() -> Model {
        Model {
            nodes: vec![ModelNode {
                parent: None,
                deadline: None,
                err: None,
            }],
        }
    }

    /// A child of `parent` with `own` deadline, made at `now`.
    fn child(&mut self, parent: usize, own: Option<Instant>, now: Instant) -> usize {
        let deadline = self.nodes[parent].deadline.into_iter().chain(own).min();
        let err = match self.nodes[parent].err {
            // Born done, with the reason the parent already has.
            Some(reason) => Some(reason),
            None if deadline.is_some_and(|d| d <= now) => Some(ContextError::DeadlineExceeded),
            None => None,
        };
        self.nodes.push(ModelNode {
            parent: Some(parent),
            deadline,
            err,
        });
        self.nodes.len() - 1
    }

    fn is_descendant(&self, mut node: usize, of: usize) -> bool {
        loop {
            if node == of {
                return true;
            }
            match self.nodes[node].parent {
                Some(parent) => node = parent,
                None => return false,
            }
        }
    }

    /// Cancels `node` and every live descendant. Those whose deadline has passed are done
    /// already (the clock moves eagerly), so they keep `DeadlineExceeded`.
    fn cancel(&mut self, node: usize) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].err.is_none() && self.is_descendant(i, node) {
                self.nodes[i].err = Some(ContextError::Canceled);
            }
        }
    }

    /// The clock is at `now`: every live node whose deadline has passed is done.
    fn tick(&mut self, now: Instant) {
        for node in &mut self.nodes {
            if node.err.is_none() && node.deadline.is_some_and(|d| d <= now) {
                node.err = Some(ContextError::DeadlineExceeded);
            }
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.nodes
            .iter()
            .filter(|node| node.err.is_none())
            .filter_map(|node| node.deadline)
            .filter(|&d| d > now)
            .min()
    }
}

/// The real side of one node.
struct Real {
    ctx: Context,
    cancel: CancelHandle,
    /// Set by a task parked in `ctx.done()` since the node was made.
    woken: Arc<AtomicBool>,
    waiter: JoinHandle<()>,
}

/// Lets every woken waiter run. The current-thread runtime runs a woken task when the test
/// body yields; a few rounds cover a wake that itself wakes another.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

fn own_deadline(kind: &Kind, now: Instant) -> Option<Instant> {
    match kind {
        Kind::Cancel => None,
        Kind::Timeout(timeout) => now.checked_add(match timeout {
            Timeout::Zero => Duration::ZERO,
            Timeout::Max => Duration::MAX,
            Timeout::Overflowing => Duration::from_secs(u64::MAX / 2),
            Timeout::Ms(ms) => Duration::from_millis(*ms),
            Timeout::Far => FAR,
        }),
        Kind::Deadline(at) => Some(match at {
            At::PastMs(ms) => past(now, *ms),
            At::Now => now,
            At::InMs(ms) => now + Duration::from_millis(*ms),
            At::Far => now + FAR,
        }),
    }
}

/// `now - ms`, or as far back as the clock goes.
fn past(now: Instant, ms: u64) -> Instant {
    (0..=ms)
        .rev()
        .find_map(|back| now.checked_sub(Duration::from_millis(back)))
        .unwrap_or(now)
}

fn make_child(parent: &Context, kind: &Kind, now: Instant) -> (Context, CancelHandle) {
    match kind {
        Kind::Cancel => parent.with_cancel(),
        Kind::Timeout(timeout) => parent.with_timeout(match timeout {
            Timeout::Zero => Duration::ZERO,
            Timeout::Max => Duration::MAX,
            Timeout::Overflowing => Duration::from_secs(u64::MAX / 2),
            Timeout::Ms(ms) => Duration::from_millis(*ms),
            Timeout::Far => FAR,
        }),
        Kind::Deadline(_) => parent.with_deadline(own_deadline(kind, now).expect("a deadline")),
    }
}

fn check(model: &Model, real: &[Option<Real>], step: usize) -> Result<(), TestCaseError> {
    for (i, (node, real)) in model.nodes.iter().zip(real).enumerate() {
        let Some(real) = real else { continue };
        prop_assert_eq!(
            real.ctx.err(),
            node.err,
            "err() of node {} after step {}",
            i,
            step
        );
        prop_assert_eq!(
            real.ctx.is_done(),
            node.err.is_some(),
            "is_done() of node {}",
            i
        );
        prop_assert_eq!(
            real.ctx.deadline(),
            node.deadline,
            "deadline() of node {}",
            i
        );
        let ready = real.ctx.done().now_or_never().is_some();
        prop_assert_eq!(ready, node.err.is_some(), "done() of node {} ready", i);
        prop_assert_eq!(
            real.woken.load(Ordering::SeqCst),
            node.err.is_some(),
            "the waiter parked in done() of node {} after step {}",
            i,
            step
        );
    }
    Ok(())
}

/// Runs `steps`, checking every node after each.
fn run_case(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let mut model = Model::new();
        let background = Context::background();
        // Slot 0 is the background context: never done, no handle.
        let mut real: Vec<Option<Real>> = vec![None];
        let context_of = |real: &[Option<Real>], i: usize| -> Option<Context> {
            match i {
                0 => Some(background.clone()),
                _ => real[i].as_ref().map(|r| r.ctx.clone()),
            }
        };

        for (n, step) in steps.iter().enumerate() {
            let now = Instant::now();
            match step {
                Step::Child(parent, kind) => {
                    let parent = parent % model.nodes.len();
                    // A dropped node cannot be a parent any more: use its nearest live
                    // ancestor (the model must follow the same choice).
                    let mut parent = parent;
                    while context_of(&real, parent).is_none() {
                        parent = model.nodes[parent]
                            .parent
                            .expect("background is never dropped");
                    }
                    let parent_ctx = context_of(&real, parent).expect("a live parent");
                    let (ctx, cancel) = make_child(&parent_ctx, kind, now);
                    let woken = Arc::new(AtomicBool::new(false));
                    let waiter = tokio::spawn({
                        let (ctx, woken) = (ctx.clone(), Arc::clone(&woken));
                        async move {
                            ctx.done().await;
                            woken.store(true, Ordering::SeqCst);
                        }
                    });
                    model.child(parent, own_deadline(kind, now), now);
                    real.push(Some(Real {
                        ctx,
                        cancel,
                        woken,
                        waiter,
                    }));
                }
                Step::Cancel(node) => {
                    let node = node % model.nodes.len();
                    if let Some(r) = &real[node] {
                        r.cancel.cancel();
                        model.cancel(node);
                    }
                }
                Step::AdvanceMs(ms) => {
                    tokio::time::advance(Duration::from_millis(*ms)).await;
                    model.tick(Instant::now());
                }
                Step::AdvanceToNextDeadline => {
                    if let Some(at) = model.next_deadline(now) {
                        tokio::time::advance(at - now).await;
                        prop_assert_eq!(Instant::now(), at);
                        model.tick(at);
                    }
                }
                Step::Drop(node) => {
                    let node = node % model.nodes.len();
                    if let Some(r) = real[node].take() {
                        r.waiter.abort();
                    }
                }
            }
            settle().await;
            check(&model, &real, n)?;
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(support::proptest_config(0x5eed_a5c7_a5c5))]

    #[test]
    fn a_random_tree_of_contexts_behaves_as_the_model(
        steps in prop::collection::vec(step_strategy(), 1..48)
    ) {
        run_case(steps)?;
    }
}

/// Found by the property above, and kept as a named case.
///
/// A child made under a context that was canceled, after that context's deadline has also
/// passed, must be born `Canceled` like its parent: the parent's first reason wins (as the
/// docs of `with_deadline` and Go's `propagateCancel` say). It used to be born
/// `DeadlineExceeded`: `Node::new` made a child of a done parent done through `Node::cancel`,
/// which judged the reason again by the (inherited, passed) deadline.
#[test]
fn a_child_of_a_canceled_parent_is_born_canceled_even_after_the_deadline() {
    let steps = vec![
        Step::Child(0, Kind::Timeout(Timeout::Ms(10))),
        Step::Cancel(1),
        Step::AdvanceMs(20),
        Step::Child(1, Kind::Cancel),
    ];
    run_case(steps).unwrap();
}
