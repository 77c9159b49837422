//! Cancel latency: from `cancel()` to `wait()` returning, for loops parked in a sleep,
//! against `TaskTracker` loops on a token, and the contract's floor. Only timed: the
//! setup (parking the loops) dominates each side.
//!
//! On the current-thread runtime the timer starts after one `yield_now()` of the thread in
//! `block_on`, as in earlier tables (which lets the scheduler run one batch of the new loops,
//! not all of them: the rest make their first poll inside the timed region, on both sides).
//! On the multi-thread runtime, where the workers park the loops while the thread in
//! `block_on` spawns them, the timer starts once every loop has counted itself in, at the
//! top of its first iteration, just before it parks: the figure is then the cancel alone.

use std::sync::Arc;
use std::time::Duration;

use async_tasks::{Context, Func, Tasks};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::setup::Flavor::{self, CurrentThread, MultiThread};
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::timed("cancel latency, 10k parked loops", 1.2, "ns/loop", || {
            cancel_latency(CurrentThread)
        }),
        Spec::timed(
            "(cancel latency floor: a context per loop)",
            f64::NAN,
            "ns/loop",
            || cancel_floor(CurrentThread),
        ),
        Spec::timed(
            "cancel latency, 10k parked loops, 2 workers",
            1.2,
            "ns/loop",
            || cancel_latency(MultiThread),
        ),
        Spec::timed(
            "(cancel latency floor: a context per loop, 2 workers)",
            f64::NAN,
            "ns/loop",
            || cancel_floor(MultiThread),
        ),
    ]
}

const PARKED_LOOPS: usize = 10_000;

/// Where the loops count themselves in: on a multi-thread runtime only (see the module's
/// docs).
fn check_in(flavor: Flavor) -> Option<Arc<Semaphore>> {
    match flavor {
        Flavor::CurrentThread => None,
        Flavor::MultiThread => Some(Arc::new(Semaphore::new(0))),
    }
}

/// Waits until the loops are parked (see the module's docs): one `yield_now()` on a
/// current-thread runtime; on a multi-thread one, until each loop has counted itself in.
async fn parked(checked_in: &Option<Arc<Semaphore>>) {
    match checked_in {
        None => tokio::task::yield_now().await,
        Some(checked_in) => {
            let all = u32::try_from(PARKED_LOOPS).unwrap();
            checked_in.acquire_many(all).await.unwrap().forget();
        }
    }
}

/// From `cancel()` to `wait()` returning, for loops parked in a one-hour sleep.
fn cancel_latency(flavor: Flavor) -> (Side, Side) {
    let rt = Arc::new(flavor.runtime(&None));
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let tasks = Tasks::new("bench");
                let (ctx, cancel) = Context::background().with_cancel();
                let checked_in = check_in(flavor);
                for _ in 0..PARKED_LOOPS {
                    let checked_in = checked_in.clone();
                    tasks.run_loop(
                        &ctx,
                        Func::new(move |ctx| {
                            if let Some(checked_in) = &checked_in {
                                checked_in.add_permits(1);
                            }
                            async move {
                                async_tasks::sleep(&ctx, Duration::from_secs(3600)).await?;
                                Ok(())
                            }
                        }),
                    );
                }
                parked(&checked_in).await;
                let clock = Clock::start();
                cancel.cancel();
                tasks.wait().await;
                clock.stop(PARKED_LOOPS as u64)
            })
        })
    };
    let anchor = token_loops(rt, flavor, false);
    (ours, anchor)
}

/// The floor of cancel latency under the contract, as a stand-in "ours": loops as the
/// anchor's, but each waiting on a context of its own (a child token of the caller's, as a
/// task's context is a child of its caller's), against the same anchor.
fn cancel_floor(flavor: Flavor) -> (Side, Side) {
    let rt = Arc::new(flavor.runtime(&None));
    (
        token_loops(Arc::clone(&rt), flavor, true),
        token_loops(rt, flavor, false),
    )
}

/// A side with `PARKED_LOOPS` anchor loops (a `select!` of a token and a one-hour sleep),
/// timed from the token's `cancel()` to the tracker's `wait()`. With `own_token`, each loop
/// waits on a child token of its own rather than a clone of the one token.
fn token_loops(rt: Arc<Runtime>, flavor: Flavor, own_token: bool) -> Side {
    Box::new(move || {
        rt.block_on(async {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let checked_in = check_in(flavor);
            for _ in 0..PARKED_LOOPS {
                let token = if own_token {
                    token.child_token()
                } else {
                    token.clone()
                };
                let checked_in = checked_in.clone();
                tracker.spawn(async move {
                    while !token.is_cancelled() {
                        if let Some(checked_in) = &checked_in {
                            checked_in.add_permits(1);
                        }
                        tokio::select! {
                            () = token.cancelled() => {}
                            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                        }
                    }
                });
            }
            tracker.close();
            parked(&checked_in).await;
            let clock = Clock::start();
            token.cancel();
            tracker.wait().await;
            clock.stop(PARKED_LOOPS as u64)
        })
    })
}
