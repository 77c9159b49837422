//! Spawning one-shot runs in waves, against `TaskTracker::spawn`, with and without a
//! subscriber: `Tasks::run` of a trivial runner (and the contract's floor), and
//! `Tasks::spawn` of a closure whose `TaskHandle` is awaited for its value. Each on a
//! current-thread runtime and on a multi-thread one (2 workers: the waves are spawned from
//! the thread in `block_on` and run by the workers).

use std::sync::Arc;

use async_tasks::{BoxError, Context, Runner, Tasks};
use tokio::runtime::Runtime;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::setup::Flavor::{self, CurrentThread, MultiThread};
use crate::setup::{Trivial, info_subscriber, with_dispatch};
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted("spawn, no subscriber", 1.35, "ns/task", || {
            spawn_figures(false, CurrentThread)
        }),
        Spec::counted("(spawn floor, no subscriber)", f64::NAN, "ns/task", || {
            spawn_floor(CurrentThread)
        }),
        Spec::counted("spawn, INFO subscriber", 1.2, "ns/task", || {
            spawn_figures(true, CurrentThread)
        }),
        Spec::counted(
            "spawn + await handle, no subscriber",
            1.4,
            "ns/task",
            || handle_figures(false, CurrentThread),
        ),
        Spec::counted(
            "spawn + await handle, INFO subscriber",
            1.2,
            "ns/task",
            || handle_figures(true, CurrentThread),
        ),
        // Not counted: callgrind serialises the workers.
        Spec::timed("spawn, no subscriber, 2 workers", 1.35, "ns/task", || {
            spawn_figures(false, MultiThread)
        }),
        Spec::timed(
            "(spawn floor, no subscriber, 2 workers)",
            f64::NAN,
            "ns/task",
            || spawn_floor(MultiThread),
        ),
        Spec::timed("spawn, INFO subscriber, 2 workers", 1.2, "ns/task", || {
            spawn_figures(true, MultiThread)
        }),
        Spec::timed(
            "spawn + await handle, no subscriber, 2 workers",
            1.4,
            "ns/task",
            || handle_figures(false, MultiThread),
        ),
        Spec::timed(
            "spawn + await handle, INFO subscriber, 2 workers",
            1.2,
            "ns/task",
            || handle_figures(true, MultiThread),
        ),
    ]
}

const WAVE: usize = 1_000;
const WAVES: usize = 60;

fn spawn_figures(subscriber: bool, flavor: Flavor) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(flavor.runtime(&dispatch));
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        let tasks = Tasks::new("bench");
        let ctx = Context::background();
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let clock = Clock::start();
                    for _ in 0..WAVES {
                        for _ in 0..WAVE {
                            tasks.run(&ctx, Trivial);
                        }
                        tasks.wait().await;
                    }
                    clock.stop((WAVE * WAVES) as u64)
                })
            })
        })
    };
    let anchor = tracker_waves(rt, dispatch, move |tracker| {
        if subscriber {
            tracker.spawn(async {}.instrument(tracing::info_span!(
                "task",
                task.name = "bench",
                otel.name = "bench"
            )));
        } else {
            tracker.spawn(async {});
        }
    });
    (ours, anchor)
}

/// The floor of a spawn under the contract, as a stand-in "ours": what any `Tasks::run`
/// must do per task (a context for the run that its `Tasks` can cancel: a clone of a
/// context node; the runner's boxed future; a `"task"` span around it; a caught panic),
/// against the same anchor as the spawn figure.
fn spawn_floor(flavor: Flavor) -> (Side, Side) {
    use futures_util::FutureExt;
    let rt = Arc::new(flavor.runtime(&None));
    let (ctx, _cancel) = Context::background().with_cancel();
    let floor = tracker_waves(Arc::clone(&rt), None, move |tracker| {
        let ctx = ctx.clone();
        let span = tracing::info_span!("task", task.name = "bench", otel.name = "bench");
        tracker.spawn(
            async move {
                let _ = std::panic::AssertUnwindSafe(Trivial.run(ctx))
                    .catch_unwind()
                    .await;
            }
            .instrument(span),
        );
    });
    let anchor = tracker_waves(rt, None, |tracker| {
        tracker.spawn(async {});
    });
    (floor, anchor)
}

/// A side that spawns `WAVES` waves of `WAVE` tasks with `spawn_one` on a fresh
/// `TaskTracker` each, then closes and waits for it: the anchor's way of spawning.
fn tracker_waves(
    rt: Arc<Runtime>,
    dispatch: Option<tracing::Dispatch>,
    spawn_one: impl Fn(&TaskTracker) + 'static,
) -> Side {
    Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let clock = Clock::start();
                for _ in 0..WAVES {
                    let tracker = TaskTracker::new();
                    for _ in 0..WAVE {
                        spawn_one(&tracker);
                    }
                    tracker.close();
                    tracker.wait().await;
                }
                clock.stop((WAVE * WAVES) as u64)
            })
        })
    })
}

/// `Tasks::spawn` of a closure returning a value, then its `TaskHandle` awaited, in waves
/// as the spawn figure's; against `TaskTracker::spawn` of the same value and its
/// `JoinHandle` awaited.
fn handle_figures(subscriber: bool, flavor: Flavor) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(flavor.runtime(&dispatch));
    let ours: Side =
        {
            let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
            let tasks = Tasks::new("bench");
            let ctx = Context::background();
            Box::new(move || {
                with_dispatch(&dispatch, || {
                    rt.block_on(async {
                        let mut handles = Vec::with_capacity(WAVE);
                        let clock = Clock::start();
                        for _ in 0..WAVES {
                            for _ in 0..WAVE {
                                handles.push(tasks.spawn(&ctx, "bench", |_ctx| async {
                                    Ok::<_, BoxError>(1_u64)
                                }));
                            }
                            let mut sum = 0;
                            for handle in handles.drain(..) {
                                sum += handle.await.unwrap();
                            }
                            assert_eq!(sum, WAVE as u64);
                            tasks.wait().await;
                        }
                        clock.stop((WAVE * WAVES) as u64)
                    })
                })
            })
        };
    let anchor: Side = Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(WAVE);
                let clock = Clock::start();
                for _ in 0..WAVES {
                    let tracker = TaskTracker::new();
                    for _ in 0..WAVE {
                        handles.push(if subscriber {
                            tracker.spawn(async { 1_u64 }.instrument(tracing::info_span!(
                                "task",
                                task.name = "bench",
                                otel.name = "bench"
                            )))
                        } else {
                            tracker.spawn(async { 1_u64 })
                        });
                    }
                    let mut sum = 0;
                    for handle in handles.drain(..) {
                        sum += handle.await.unwrap();
                    }
                    assert_eq!(sum, WAVE as u64);
                    tracker.close();
                    tracker.wait().await;
                }
                clock.stop((WAVE * WAVES) as u64)
            })
        })
    });
    (ours, anchor)
}
