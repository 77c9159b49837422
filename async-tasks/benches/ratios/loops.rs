//! A loop iteration: `Tasks::run_loop` of a counting runner, against a spawned
//! `while !token.is_cancelled()` loop, with and without a subscriber, and the contract's
//! floor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_tasks::{Context, Func, Runner, Tasks};
use tokio_util::sync::CancellationToken;
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

const ITERATIONS: u64 = 600_000;

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
    let anchor: Side = Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let tracker = TaskTracker::new();
                let token = CancellationToken::new();
                let count = Arc::new(AtomicU64::new(0));
                let (seen, stop) = (Arc::clone(&count), token.clone());
                let start = Instant::now();
                tracker.spawn(async move {
                    while !stop.is_cancelled() {
                        let body = async {
                            if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                                stop.cancel();
                            }
                        };
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
                    }
                });
                tracker.close();
                tracker.wait().await;
                (start.elapsed(), count.load(Ordering::Relaxed))
            })
        })
    });
    (ours, anchor)
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
    let (_, anchor) = loop_figures(false);
    (floor, anchor)
}
