//! `MutexWithContext` against `tokio::sync::Mutex`: uncontended, contended by eight tasks on
//! two workers, and handed over at every lock (each holder yields before it unlocks, so the
//! others are always queued: the contended figure alone can run with next to no contention,
//! when the tasks happen to run one after another); and uncontended against `std::sync::Mutex` (the lock of a
//! synchronous program, the floor any lock is held to), with tokio's own `try_lock` against
//! the same for comparison.

use std::hint::black_box;
use std::sync::Arc;

use async_tasks::{Context, MutexWithContext};

use crate::setup::{current_thread, multi_thread};
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted(
            "mutex uncontended lock+unlock",
            0.6,
            "ns/lock",
            mutex_uncontended,
        ),
        Spec::counted(
            "mutex uncontended lock+unlock, against std::sync::Mutex",
            2.0,
            "ns/lock",
            || {
                (
                    ours_uncontended(Arc::new(current_thread())),
                    std_uncontended(),
                )
            },
        ),
        Spec::counted(
            "(mutex: tokio's try_lock+unlock, against std::sync::Mutex)",
            f64::NAN,
            "ns/lock",
            || (tokio_try_lock(), std_uncontended()),
        ),
        // Not counted: callgrind serialises the two workers.
        Spec::timed(
            "mutex contended, 8 tasks x 50k, 2 workers",
            1.75,
            "ns/lock",
            mutex_contended,
        ),
        // Not counted: as above.
        Spec::timed(
            "mutex handed over at every lock, 8 tasks x 10k, 2 workers",
            f64::NAN,
            "ns/lock",
            mutex_handed_over,
        ),
    ]
}

const LOCKS: u64 = 600_000;

fn mutex_uncontended() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let ours = ours_uncontended(Arc::clone(&rt));
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = tokio::sync::Mutex::new(0_u64);
            let clock = Clock::start();
            for _ in 0..LOCKS {
                *black_box(&mutex).lock().await += 1;
            }
            clock.stop(LOCKS)
        })
    });
    (ours, anchor)
}

/// `MutexWithContext::lock` with a cancelable context, uncontended, in a task.
fn ours_uncontended(rt: Arc<tokio::runtime::Runtime>) -> Side {
    Box::new(move || {
        rt.block_on(async {
            let mutex = MutexWithContext::new(0_u64);
            let (ctx, _cancel) = Context::background().with_cancel();
            let clock = Clock::start();
            for _ in 0..LOCKS {
                *black_box(&mutex).lock(&ctx).await.unwrap() += 1;
            }
            clock.stop(LOCKS)
        })
    })
}

/// `std::sync::Mutex::lock`, uncontended, on this thread.
fn std_uncontended() -> Side {
    Box::new(move || {
        let mutex = std::sync::Mutex::new(0_u64);
        let clock = Clock::start();
        for _ in 0..LOCKS {
            *black_box(&mutex).lock().unwrap() += 1;
        }
        clock.stop(LOCKS)
    })
}

/// `tokio::sync::Mutex::try_lock`, uncontended, on this thread: tokio's cheapest way in.
fn tokio_try_lock() -> Side {
    Box::new(move || {
        let mutex = tokio::sync::Mutex::new(0_u64);
        let clock = Clock::start();
        for _ in 0..LOCKS {
            *black_box(&mutex).try_lock().unwrap() += 1;
        }
        clock.stop(LOCKS)
    })
}

const CONTENDERS: u64 = 8;
const CONTENDED_LOCKS: u64 = 50_000;

fn mutex_contended() -> (Side, Side) {
    let rt = Arc::new(multi_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let mutex = Arc::new(MutexWithContext::new(0_u64));
                let (ctx, _cancel) = Context::background().with_cancel();
                let clock = Clock::start();
                let handles: Vec<_> = (0..CONTENDERS)
                    .map(|_| {
                        let (mutex, ctx) = (Arc::clone(&mutex), ctx.clone());
                        tokio::spawn(async move {
                            for _ in 0..CONTENDED_LOCKS {
                                *mutex.lock(&ctx).await.unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.unwrap();
                }
                assert_eq!(*mutex.try_lock().unwrap(), CONTENDERS * CONTENDED_LOCKS);
                clock.stop(CONTENDERS * CONTENDED_LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = Arc::new(tokio::sync::Mutex::new(0_u64));
            let clock = Clock::start();
            let handles: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let mutex = Arc::clone(&mutex);
                    tokio::spawn(async move {
                        for _ in 0..CONTENDED_LOCKS {
                            *mutex.lock().await += 1;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            clock.stop(CONTENDERS * CONTENDED_LOCKS)
        })
    });
    (ours, anchor)
}

const HANDED_OVER_LOCKS: u64 = 10_000;

/// Eight tasks that each yield while holding the lock, so that every unlock hands it to a
/// queued task: the cost of the fair hand-off itself.
fn mutex_handed_over() -> (Side, Side) {
    let rt = Arc::new(multi_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let mutex = Arc::new(MutexWithContext::new(0_u64));
                let (ctx, _cancel) = Context::background().with_cancel();
                let clock = Clock::start();
                let handles: Vec<_> = (0..CONTENDERS)
                    .map(|_| {
                        let (mutex, ctx) = (Arc::clone(&mutex), ctx.clone());
                        tokio::spawn(async move {
                            for _ in 0..HANDED_OVER_LOCKS {
                                let mut guard = mutex.lock(&ctx).await.unwrap();
                                *guard += 1;
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.unwrap();
                }
                clock.stop(CONTENDERS * HANDED_OVER_LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = Arc::new(tokio::sync::Mutex::new(0_u64));
            let clock = Clock::start();
            let handles: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let mutex = Arc::clone(&mutex);
                    tokio::spawn(async move {
                        for _ in 0..HANDED_OVER_LOCKS {
                            let mut guard = mutex.lock().await;
                            *guard += 1;
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            clock.stop(CONTENDERS * HANDED_OVER_LOCKS)
        })
    });
    (ours, anchor)
}
