//! A bounded pool: `Pool::run` of trivial runners, against a hand-written pool of a
//! `Semaphore` and a `TaskTracker`.
//!
//! The bound is 64. On a current-thread runtime the producer fills every slot, waits, and
//! the runs free the slots before it is polled again, so one admission in 64 waits for a
//! slot and the rest take one at once: the figure is the per-run cost of a saturated pool
//! (a pool's normal state: more work than slots), not the cost of a hand-off between the
//! producer and one task, which a bound of 1 would measure and which is the scheduler's,
//! the same on both sides. 64 is also a usual bound for I/O fan-out.

use std::sync::Arc;

use async_tasks::{BoxError, Context, Tasks};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::setup::Flavor::{self, CurrentThread, MultiThread};
use crate::setup::Trivial;
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted(
            "pool run, 64 slots, no subscriber",
            f64::NAN,
            "ns/run",
            || pool_figures(CurrentThread),
        ),
        // Not counted: callgrind serialises the workers.
        Spec::timed(
            "pool run, 64 slots, no subscriber, 2 workers",
            f64::NAN,
            "ns/run",
            || pool_figures(MultiThread),
        ),
        Spec::counted(
            "pool try_spawn on a free slot vs spawn's admission",
            1.1,
            "ns/job",
            try_spawn_figures,
        ),
    ]
}

/// Jobs per batch, and slots: every job of a batch finds a free slot, and the batch ends
/// with `wait`, so neither side ever waits for one.
const BATCH: u64 = 1_024;
const BATCHES: u64 = 40;

/// `Pool::try_spawn` against `Pool::spawn(..).await`, both on a free slot: what accepting
/// at once costs beyond admitting.
fn try_spawn_figures() -> (Side, Side) {
    let rt = Arc::new(CurrentThread.runtime(&None));
    let pool = Arc::new(Tasks::new("bench").pool("p", BATCH as usize));
    let ours: Side = {
        let (rt, pool) = (Arc::clone(&rt), Arc::clone(&pool));
        let ctx = Context::background();
        Box::new(move || {
            rt.block_on(async {
                let clock = Clock::start();
                for _ in 0..BATCHES {
                    for _ in 0..BATCH {
                        let job =
                            pool.try_spawn(&ctx, "job", |_ctx| async { Ok::<_, BoxError>(()) });
                        drop(job.unwrap());
                    }
                    pool.wait().await.unwrap();
                }
                clock.stop(BATCH * BATCHES)
            })
        })
    };
    let anchor: Side = {
        let ctx = Context::background();
        Box::new(move || {
            rt.block_on(async {
                let clock = Clock::start();
                for _ in 0..BATCHES {
                    for _ in 0..BATCH {
                        let job = pool.spawn(&ctx, "job", |_ctx| async { Ok::<_, BoxError>(()) });
                        drop(job.await.unwrap());
                    }
                    pool.wait().await.unwrap();
                }
                clock.stop(BATCH * BATCHES)
            })
        })
    };
    (ours, anchor)
}

const SLOTS: usize = 64;
const POOL_RUNS: u64 = 60_000;

fn pool_figures(flavor: Flavor) -> (Side, Side) {
    let rt = Arc::new(flavor.runtime(&None));
    let ours: Side = {
        let rt = Arc::clone(&rt);
        let tasks = Tasks::new("bench");
        let pool = tasks.pool("p", SLOTS);
        let ctx = Context::background();
        Box::new(move || {
            rt.block_on(async {
                let clock = Clock::start();
                for _ in 0..POOL_RUNS {
                    pool.run(&ctx, Trivial).await.unwrap();
                }
                pool.wait().await.unwrap();
                clock.stop(POOL_RUNS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let slots = Arc::new(Semaphore::new(SLOTS));
            let tracker = TaskTracker::new();
            let clock = Clock::start();
            for _ in 0..POOL_RUNS {
                let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
                tracker.spawn(async move {
                    drop(permit);
                });
            }
            tracker.close();
            tracker.wait().await;
            clock.stop(POOL_RUNS)
        })
    });
    (ours, anchor)
}
