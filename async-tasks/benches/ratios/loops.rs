//! A loop iteration: `Tasks::run_loop` of a counting runner, against a spawned
//! `while !token.is_cancelled()` loop, with and without a subscriber, and the contract's
//! floor; on a current-thread runtime and on a multi-thread one (2 workers).
//!
//! Two anchors. The first never yields: it is what earlier tables measured against, and it
//! would starve every other task of its worker. The *fair* one spends tokio's cooperative
//! budget once per iteration (`tokio::task::consume_budget().await`), as `run_loop` does and
//! as any loop that must not starve its worker has to: it yields every 128 iterations, and
//! on a multi-thread runtime a yield wakes the other worker, which may steal the task. The
//! targets are against the fair anchor; what fairness itself costs is the row that runs the
//! fair anchor against the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_tasks::{Context, Func, Runner, Tasks};
use tokio::runtime::Runtime;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::setup::Flavor::{self, CurrentThread, MultiThread};
use crate::setup::{info_subscriber, with_dispatch};
use crate::{Clock, Side, Spec};

/// How the anchor's loop treats tokio's cooperative budget.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Anchor {
    /// Never yields (the anchor of the earlier tables).
    NeverYields,
    /// Spends the budget once per iteration, as `run_loop` does.
    Fair,
}

pub(crate) fn figures() -> Vec<Spec> {
    use Anchor::{Fair, NeverYields};
    vec![
        Spec::counted("loop iteration, no subscriber", 2.6, "ns/iter", || {
            loop_figures(false, CurrentThread, NeverYields)
        }),
        Spec::counted("loop iteration, INFO subscriber", 1.35, "ns/iter", || {
            loop_figures(true, CurrentThread, NeverYields)
        }),
        Spec::counted(
            "(loop iteration floor, no subscriber)",
            f64::NAN,
            "ns/iter",
            || loop_floor(CurrentThread, NeverYields),
        ),
        Spec::counted(
            "loop iteration, no subscriber, fair anchor",
            1.5,
            "ns/iter",
            || loop_figures(false, CurrentThread, Fair),
        ),
        Spec::counted(
            "loop iteration, INFO subscriber, fair anchor",
            1.25,
            "ns/iter",
            || loop_figures(true, CurrentThread, Fair),
        ),
        Spec::counted(
            "(loop iteration floor, no subscriber, fair anchor)",
            f64::NAN,
            "ns/iter",
            || loop_floor(CurrentThread, Fair),
        ),
        Spec::counted(
            "(fairness: the fair anchor against the never-yielding one)",
            f64::NAN,
            "ns/iter",
            || fairness(CurrentThread),
        ),
        // Not counted: callgrind serialises the workers.
        // Against the anchor that never yields, for comparison only.
        Spec::timed(
            "loop iteration, no subscriber, 2 workers",
            f64::NAN,
            "ns/iter",
            || loop_figures(false, MultiThread, NeverYields),
        ),
        Spec::timed(
            "loop iteration, INFO subscriber, 2 workers",
            f64::NAN,
            "ns/iter",
            || loop_figures(true, MultiThread, NeverYields),
        ),
        Spec::timed(
            "loop iteration, no subscriber, fair anchor, 2 workers",
            1.5,
            "ns/iter",
            || loop_figures(false, MultiThread, Fair),
        ),
        Spec::timed(
            "loop iteration, INFO subscriber, fair anchor, 2 workers",
            1.25,
            "ns/iter",
            || loop_figures(true, MultiThread, Fair),
        ),
        Spec::timed(
            "(loop iteration floor, no subscriber, fair anchor, 2 workers)",
            f64::NAN,
            "ns/iter",
            || loop_floor(MultiThread, Fair),
        ),
        Spec::timed(
            "(fairness: the fair anchor against the never-yielding one, 2 workers)",
            f64::NAN,
            "ns/iter",
            || fairness(MultiThread),
        ),
    ]
}

pub(crate) const ITERATIONS: u64 = 600_000;

/// A side of the anchor's shape: a task on a `TaskTracker` that runs iterations until a
/// `CancellationToken` is canceled, each counting itself (the `body`, a future) and
/// canceling the token at `ITERATIONS`, timed from before the spawn to the tracker's
/// `wait()`. `$setup` runs before the spawn, and its bindings move into the task; each
/// iteration is `$iteration`, which awaits `$body` in its own way.
macro_rules! anchor_loop {
    ($rt:expr, $dispatch:expr, { $($setup:tt)* }, |$body:ident| $iteration:expr) => {{
        let (rt, dispatch): (
            ::std::sync::Arc<::tokio::runtime::Runtime>,
            ::std::option::Option<::tracing::Dispatch>,
        ) = ($rt, $dispatch);
        let side: $crate::Side = ::std::boxed::Box::new(move || {
            $crate::setup::with_dispatch(&dispatch, || {
                rt.block_on(async {
                    use ::std::sync::atomic::Ordering::Relaxed;
                    let tracker = ::tokio_util::task::TaskTracker::new();
                    let token = ::tokio_util::sync::CancellationToken::new();
                    let count = ::std::sync::Arc::new(::std::sync::atomic::AtomicU64::new(0));
                    let (seen, stop) = (::std::sync::Arc::clone(&count), token.clone());
                    $($setup)*
                    let clock = $crate::Clock::start();
                    tracker.spawn(async move {
                        while !stop.is_cancelled() {
                            let $body = async {
                                if seen.fetch_add(1, Relaxed) + 1 == $crate::loops::ITERATIONS {
                                    stop.cancel();
                                }
                            };
                            $iteration;
                        }
                    });
                    tracker.close();
                    tracker.wait().await;
                    clock.stop(count.load(Relaxed))
                })
            })
        });
        side
    }};
}
pub(crate) use anchor_loop;

fn loop_figures(subscriber: bool, flavor: Flavor, fair: Anchor) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(flavor.runtime(&dispatch));
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let tasks = Tasks::new("bench");
                    let (ctx, cancel) = Context::background().with_cancel();
                    let count = Arc::new(AtomicU64::new(0));
                    let seen = Arc::clone(&count);
                    let clock = Clock::start();
                    tasks.run_loop(
                        &ctx,
                        Func::new(move |_ctx| {
                            if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                                cancel.cancel();
                            }
                            std::future::ready(Ok(()))
                        }),
                    );
                    tasks.wait().await;
                    clock.stop(count.load(Ordering::Relaxed))
                })
            })
        })
    };
    (ours, anchor(rt, dispatch, fair))
}

/// The anchor of the loop figures: a tracked loop on a token, with one `info_span!` per
/// iteration when there is a subscriber, spending the budget once per iteration if `fair`.
pub(crate) fn anchor(rt: Arc<Runtime>, dispatch: Option<tracing::Dispatch>, fair: Anchor) -> Side {
    let subscriber = dispatch.is_some();
    anchor_loop!(rt, dispatch, {}, |body| {
        if subscriber {
            body.instrument(tracing::info_span!(
                "task",
                task.name = "bench",
                otel.name = "bench"
            ))
            .await;
        } else {
            body.await;
        }
        if let Anchor::Fair = fair {
            tokio::task::consume_budget().await;
        }
    })
}

/// What fairness costs a hand-written loop: the fair anchor as "ours", against the one that
/// never yields.
fn fairness(flavor: Flavor) -> (Side, Side) {
    let rt = Arc::new(flavor.runtime(&None));
    (
        anchor(Arc::clone(&rt), None, Anchor::Fair),
        anchor(rt, None, Anchor::NeverYields),
    )
}

/// The floor of a loop iteration under the contract, as a stand-in "ours": the least any
/// `run_loop` must do per iteration (check the context, clone it for the runner, call the
/// runner through the trait, which boxes its future, and spend tokio's coop budget so that
/// it cannot starve the runtime), against the anchor of the loop figures.
fn loop_floor(flavor: Flavor, fair: Anchor) -> (Side, Side) {
    let rt = Arc::new(flavor.runtime(&None));
    let floor: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let tracker = TaskTracker::new();
                let (ctx, cancel) = Context::background().with_cancel();
                let count = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&count);
                let runner = Func::new(move |_ctx| {
                    if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                        cancel.cancel();
                    }
                    std::future::ready(Ok(()))
                });
                let clock = Clock::start();
                tracker.spawn(async move {
                    while !ctx.is_done() {
                        if runner.run(ctx.clone()).await.is_err() {
                            break;
                        }
                        tokio::task::consume_budget().await;
                    }
                });
                tracker.close();
                tracker.wait().await;
                clock.stop(count.load(Ordering::Relaxed))
            })
        })
    };
    (floor, anchor(rt, None, fair))
}
