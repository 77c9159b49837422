//! `MutexWithContext` against `tokio::sync::Mutex`: uncontended, and contended by eight
//! tasks on two workers.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use async_tasks::{Context, MutexWithContext};

use crate::setup::{current_thread, multi_thread};
use crate::{Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted(
            "mutex uncontended lock+unlock",
            0.6,
            "ns/lock",
            mutex_uncontended,
        ),
        // Not counted: callgrind serialises the two workers.
        Spec::timed(
            "mutex contended, 8 tasks x 50k, 2 workers",
            1.75,
            "ns/lock",
            mutex_contended,
        ),
    ]
}

const LOCKS: u64 = 600_000;

fn mutex_uncontended() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let mutex = MutexWithContext::new(0_u64);
                let (ctx, _cancel) = Context::background().with_cancel();
                let start = Instant::now();
                for _ in 0..LOCKS {
                    *black_box(&mutex).lock(&ctx).await.unwrap() += 1;
                }
                (start.elapsed(), LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = tokio::sync::Mutex::new(0_u64);
            let start = Instant::now();
            for _ in 0..LOCKS {
                *black_box(&mutex).lock().await += 1;
            }
            (start.elapsed(), LOCKS)
        })
    });
    (ours, anchor)
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
                let start = Instant::now();
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
                (start.elapsed(), CONTENDERS * CONTENDED_LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = Arc::new(tokio::sync::Mutex::new(0_u64));
            let start = Instant::now();
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
            (start.elapsed(), CONTENDERS * CONTENDED_LOCKS)
        })
    });
    (ours, anchor)
}
