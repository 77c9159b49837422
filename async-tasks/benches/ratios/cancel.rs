//! Cancel latency: from `cancel()` to `wait()` returning, for loops parked in a sleep,
//! against `TaskTracker` loops on a token, and the contract's floor. Only timed: the
//! setup (parking the loops) dominates each side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tasks::{Context, Func, Tasks};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::setup::current_thread;
use crate::{Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::timed(
            "cancel latency, 10k parked loops",
            1.5,
            "ns/loop",
            cancel_latency,
        ),
        Spec::timed(
            "(cancel latency floor: a context per loop)",
            f64::NAN,
            "ns/loop",
            cancel_floor,
        ),
    ]
}

const PARKED_LOOPS: usize = 10_000;

/// From `cancel()` to `wait()` returning, for loops parked in a one-hour sleep.
fn cancel_latency() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let tasks = Tasks::new("bench");
                let (ctx, cancel) = Context::background().with_cancel();
                for _ in 0..PARKED_LOOPS {
                    tasks.run_loop(
                        &ctx,
                        Func::new(|ctx| async move {
                            async_tasks::sleep(&ctx, Duration::from_secs(3600)).await?;
                            Ok(())
                        }),
                    );
                }
                // Let every loop reach its sleep.
                tokio::task::yield_now().await;
                let start = Instant::now();
                cancel.cancel();
                tasks.wait().await;
                (start.elapsed(), PARKED_LOOPS as u64)
            })
        })
    };
    let anchor = token_loops(rt, false);
    (ours, anchor)
}

/// The floor of cancel latency under the contract, as a stand-in "ours": loops as the
/// anchor's, but each waiting on a context of its own (a child token of the caller's, as a
/// task's context is a child of its caller's), against the same anchor.
fn cancel_floor() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    (token_loops(Arc::clone(&rt), true), token_loops(rt, false))
}

/// A side with `PARKED_LOOPS` anchor loops (a `select!` of a token and a one-hour sleep),
/// timed from the token's `cancel()` to the tracker's `wait()`. With `own_token`, each loop
/// waits on a child token of its own rather than a clone of the one token.
fn token_loops(rt: Arc<Runtime>, own_token: bool) -> Side {
    Box::new(move || {
        rt.block_on(async {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            for _ in 0..PARKED_LOOPS {
                let token = if own_token {
                    token.child_token()
                } else {
                    token.clone()
                };
                tracker.spawn(async move {
                    while !token.is_cancelled() {
                        tokio::select! {
                            () = token.cancelled() => {}
                            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                        }
                    }
                });
            }
            tracker.close();
            tokio::task::yield_now().await;
            let start = Instant::now();
            token.cancel();
            tracker.wait().await;
            (start.elapsed(), PARKED_LOOPS as u64)
        })
    })
}
