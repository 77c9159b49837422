//! A loop iteration: `Tasks::run_loop` of a counting runner, against a spawned
//! `while !token.is_cancelled()` loop, with and without a subscriber, and the contract's
//! floor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_tasks::{Context, Func, Runner, Tasks};
use tokio::runtime::Runtime;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::setup::{current_thread, info_subscriber, with_dispatch};
use crate::{Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted("loop iteration, no subscriber", 2.6, "ns/iter", || {
            loop_figures(false)
        }),
        Spec::counted("loop iteration, INFO subscriber", 1.35, "ns/iter", || {
            loop_figures(true)
        }),
        Spec::counted(
            "(loop iteration floor, no subscriber)",
            f64::NAN,
            "ns/iter",
            loop_floor,
        ),
    ]
}

pub(crate) const ITERATIONS: u64 = 600_000;

/// A side of the anchor's shape: a task on a `TaskTracker` that runs iterations until a
/// `CancellationToken` is cancelled, each counting itself (the `body`, a future) and
/// cancelling the token at `ITERATIONS`, timed from before the spawn to the tracker's
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
                    let start = ::std::time::Instant::now();
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
                    (start.elapsed(), count.load(Relaxed))
                })
            })
        });
        side
    }};
}
pub(crate) use anchor_loop;

fn loop_figures(subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let tasks = Tasks::new("bench");
                    let (ctx, cancel) = Context::background().with_cancel();
                    let count = Arc::new(AtomicU64::new(0));
                    let seen = Arc::clone(&count);
                    let start = Instant::now();
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
                    (start.elapsed(), count.load(Ordering::Relaxed))
                })
            })
        })
    };
    (ours, anchor(rt, dispatch))
}

/// The anchor of the loop figures: a tracked loop on a token, with one `info_span!` per
/// iteration when there is a subscriber.
pub(crate) fn anchor(rt: Arc<Runtime>, dispatch: Option<tracing::Dispatch>) -> Side {
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
    })
}

/// The floor of a loop iteration under the contract, as a stand-in "ours": the least any
/// `run_loop` must do per iteration (check the context, clone it for the runner, call the
/// runner through the trait, which boxes its future, and spend tokio's coop budget so that
/// it cannot starve the runtime), against the same anchor as the loop figures.
fn loop_floor() -> (Side, Side) {
    let rt = Arc::new(current_thread());
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
                let start = Instant::now();
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
                (start.elapsed(), count.load(Ordering::Relaxed))
            })
        })
    };
    (floor, anchor(rt, None))
}
