//! `MutexWithContext`: a lock whose `lock` gives up when its context ends.
//!
//! Covers:
//! - `Send + Sync`, the `()` default, a `Send` lock future; the guard derefs to the data
//!   and dropping it unlocks (`try_lock` sees both states);
//! - a waiter is woken when the guard drops (manual polling);
//! - `lock` fails with the context's error when the context ends while waiting: cancel
//!   (`Canceled`, the waiter is woken) and deadline (`DeadlineExceeded`, at the deadline);
//! - `lock` with an already-done context fails even when the lock is free, and takes nothing;
//!   a waiter handed the lock as its context ends gets the error, and the lock is freed;
//! - a `lock` future dropped while waiting never leaks the lock, also when it had just been
//!   handed the lock and was dropped before being polled, and a waiter that gave up does
//!   not block the next one; a cancel racing the release never leaks it either;
//! - no poisoning: a panic while holding the guard releases the lock (sync and in a task);
//! - the data is protected: a read-yield-write counter from many tasks on a multi-thread
//!   runtime ends exact;
//! - fair: waiters get the lock in the order they asked, and a `lock` or `try_lock` made
//!   while others wait (the holder's own, just after unlocking) queues behind them; once the
//!   queue has drained, a free lock is taken at once again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{BoxError, Context, MutexWithContext};
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};

#[test]
fn the_mutex_and_its_lock_future_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<MutexWithContext<Vec<u8>>>();
    send_sync::<MutexWithContext>();

    let unit: MutexWithContext = MutexWithContext::new(());
    let ctx = Context::background();
    let lock = unit.lock(&ctx);
    send(&lock);
}

#[tokio::test]
async fn the_guard_gives_access_to_the_data_and_unlocks_on_drop() {
    let mutex = MutexWithContext::new(vec![1]);
    let ctx = Context::background();
    {
        let mut guard = mutex.lock(&ctx).await.unwrap();
        guard.push(2);
        assert_eq!(*guard, [1, 2]);
        assert!(mutex.try_lock().is_none(), "locked while the guard lives");
    }
    let mut guard = mutex
        .try_lock()
        .expect("unlocked once the guard is dropped");
    guard.push(3);
    drop(guard);
    assert_eq!(*mutex.lock(&ctx).await.unwrap(), [1, 2, 3]);
}

#[tokio::test]
async fn a_waiter_is_woken_when_the_guard_drops() {
    let mutex = MutexWithContext::new(0);
    let ctx = Context::background();
    let guard = mutex.lock(&ctx).await.unwrap();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    assert_pending!(waiter.poll());
    drop(guard);
    assert!(waiter.is_woken());
    let mut guard = assert_ready!(waiter.poll()).unwrap();
    *guard += 1;
    drop(guard);
    drop(waiter);
    assert_eq!(*mutex.try_lock().unwrap(), 1);
}

#[tokio::test]
async fn lock_fails_with_canceled_when_canceled_while_waiting() {
    let mutex = MutexWithContext::new(());
    let held = mutex.lock(&Context::background()).await.unwrap();
    let (ctx, cancel) = Context::background().with_cancel();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    cancel.cancel();
    assert!(waiter.is_woken(), "cancel must wake a waiting lock");
    assert_eq!(
        assert_ready!(waiter.poll()).err(),
        Some(ContextError::Canceled)
    );
    drop(waiter);
    assert!(mutex.try_lock().is_none(), "still held by the first guard");
    drop(held);
    assert!(mutex.try_lock().is_some());
}

#[tokio::test(start_paused = true)]
async fn lock_fails_with_deadline_exceeded_at_the_deadline() {
    let mutex = MutexWithContext::new(());
    let _held = mutex.lock(&Context::background()).await.unwrap();
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(3));
    let start = Instant::now();
    let result = timeout(Duration::from_secs(3600), mutex.lock(&ctx))
        .await
        .expect("lock must give up at the deadline");
    assert_eq!(result.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test]
async fn a_done_ctx_fails_even_when_the_lock_is_free() {
    let mutex = MutexWithContext::new(());
    let (canceled, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (expired, _c) = Context::background().with_timeout(Duration::ZERO);

    let mut lock = task::spawn(mutex.lock(&canceled));
    assert_eq!(
        assert_ready!(lock.poll()).err(),
        Some(ContextError::Canceled)
    );
    drop(lock);
    let mut lock = task::spawn(mutex.lock(&expired));
    assert_eq!(
        assert_ready!(lock.poll()).err(),
        Some(ContextError::DeadlineExceeded)
    );
    drop(lock);
    assert!(
        mutex.try_lock().is_some(),
        "a failed lock must take nothing"
    );
}

#[tokio::test]
async fn a_lock_future_dropped_while_waiting_never_leaks_the_lock() {
    let mutex = MutexWithContext::new(());
    let ctx = Context::background();
    let held = mutex.lock(&ctx).await.unwrap();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    drop(waiter);
    drop(held);
    assert!(
        mutex.try_lock().is_some(),
        "the dropped waiter kept the lock"
    );
}

#[tokio::test]
async fn a_lock_handed_to_a_dropped_waiter_passes_to_the_next_one() {
    let mutex = MutexWithContext::new(());
    let ctx = Context::background();
    let held = mutex.lock(&ctx).await.unwrap();
    let mut first = task::spawn(mutex.lock(&ctx));
    let mut second = task::spawn(mutex.lock(&ctx));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    // The release hands the lock to `first`, which is dropped before it is polled.
    drop(held);
    drop(first);
    assert!(
        second.is_woken(),
        "the lock must pass on to the next waiter"
    );
    let guard = assert_ready!(second.poll()).unwrap();
    drop(guard);
    drop(second);
    assert!(mutex.try_lock().is_some());
}

#[tokio::test]
async fn a_waiter_that_gave_up_does_not_block_the_next_one() {
    let mutex = MutexWithContext::new(());
    let held = mutex.lock(&Context::background()).await.unwrap();
    let (impatient, cancel) = Context::background().with_cancel();
    let patient = Context::background();
    let mut first = task::spawn(mutex.lock(&impatient));
    let mut second = task::spawn(mutex.lock(&patient));
    assert_pending!(first.poll());
    assert_pending!(second.poll());

    cancel.cancel();
    assert_eq!(
        assert_ready!(first.poll()).err(),
        Some(ContextError::Canceled)
    );
    assert_pending!(second.poll());
    drop(held);
    assert!(second.is_woken());
    assert!(assert_ready!(second.poll()).is_ok());
}

#[tokio::test]
async fn a_cancel_racing_the_release_never_leaks_the_lock() {
    let mutex = MutexWithContext::new(());
    let held = mutex.lock(&Context::background()).await.unwrap();
    let (ctx, cancel) = Context::background().with_cancel();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    // Both happen before the waiter is polled again: either outcome is fine...
    drop(held);
    cancel.cancel();
    match assert_ready!(waiter.poll()) {
        Ok(guard) => drop(guard),
        Err(err) => assert_eq!(err, ContextError::Canceled),
    }
    drop(waiter);
    // ...but the lock is free afterwards.
    assert!(mutex.try_lock().is_some());
}

#[test]
fn a_panic_while_holding_the_guard_releases_the_lock() {
    let mutex = MutexWithContext::new(5);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut guard = mutex.try_lock().unwrap();
        *guard = 6;
        panic!("panic while holding the lock");
    }));
    assert!(result.is_err());
    let guard = mutex.try_lock().expect("no poisoning: the lock is free");
    assert_eq!(*guard, 6);
}

#[tokio::test]
async fn a_task_that_panics_while_holding_the_guard_releases_the_lock() {
    let mutex = Arc::new(MutexWithContext::new(0));
    let ctx = Context::background();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let panicker = tokio::spawn({
        let (mutex, ctx) = (Arc::clone(&mutex), ctx.clone());
        async move {
            let mut guard = mutex.lock(&ctx).await.unwrap();
            *guard = 1;
            locked_tx.send(()).unwrap();
            let _ = go_rx.await;
            panic!("panic while holding the lock");
        }
    });
    timeout(Duration::from_secs(10), locked_rx)
        .await
        .unwrap()
        .unwrap();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    go_tx.send(()).unwrap();
    let joined = timeout(Duration::from_secs(10), panicker).await.unwrap();
    assert!(joined.unwrap_err().is_panic());
    // The waiter queued behind the panicking task gets the lock, and the data.
    assert!(waiter.is_woken());
    let guard = assert_ready!(waiter.poll()).expect("no poisoning");
    assert_eq!(*guard, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_is_protected_across_threads() {
    const TASKS: usize = 8;
    const ROUNDS: usize = 500;
    let counter = Arc::new(MutexWithContext::new(0_usize));
    let workers: Vec<_> = (0..TASKS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let ctx = Context::background();
                for _ in 0..ROUNDS {
                    let mut guard = counter.lock(&ctx).await?;
                    // Read, let others run, then write: lost updates if not exclusive.
                    let seen = *guard;
                    tokio::task::yield_now().await;
                    *guard = seen + 1;
                }
                Ok::<(), BoxError>(())
            })
        })
        .collect();
    for worker in workers {
        timeout(Duration::from_secs(60), worker)
            .await
            .expect("worker hung")
            .unwrap()
            .unwrap();
    }
    assert_eq!(*counter.try_lock().unwrap(), TASKS * ROUNDS);
}

/// A waiter handed the lock in the same turn as its context ends checks its context again
/// before it acts: it gets the error, not the lock, and the lock is free for the next.
#[tokio::test]
async fn a_waiter_whose_context_ends_as_the_lock_comes_gets_neither() {
    let mutex = MutexWithContext::new(0);
    let (ctx, cancel) = Context::background().with_cancel();
    let held = mutex.try_lock().unwrap();
    let mut waiter = task::spawn(mutex.lock(&ctx));
    assert_pending!(waiter.poll());
    drop(held); // tokio's mutex hands the lock to the waiter at once...
    cancel.cancel(); // ...and its context ends before it is polled again
    assert!(waiter.is_woken());
    let got = assert_ready!(waiter.poll());
    assert_eq!(got.err(), Some(ContextError::Canceled));
    drop(waiter);
    assert!(mutex.try_lock().is_some(), "the lock was not given back");
}

/// Waiters get the lock in the order they asked: each release lets only the first in line
/// in. A `try_lock` while others wait fails, and a `lock` queues behind them, even from the
/// holder that just unlocked with the lock free for a moment.
#[tokio::test]
async fn waiters_get_the_lock_in_the_order_they_asked() {
    let mutex = MutexWithContext::new(Vec::new());
    let ctx = Context::background();
    let mut held = mutex.lock(&ctx).await.unwrap();
    let mut waiters: Vec<_> = (0..4).map(|_| task::spawn(mutex.lock(&ctx))).collect();
    for waiter in &mut waiters {
        assert_pending!(waiter.poll());
    }
    held.push("holder");
    drop(held);
    assert!(mutex.try_lock().is_none(), "try_lock overtook the queue");
    let mut again = task::spawn(mutex.lock(&ctx));
    assert_pending!(again.poll());
    waiters.push(again);

    let mut order = Vec::new();
    for turn in 0..waiters.len() {
        // Those further back are still waiting; then the first in line gets it.
        for later in waiters[turn + 1..].iter_mut().rev() {
            assert_pending!(later.poll());
        }
        let mut guard = assert_ready!(waiters[turn].poll()).unwrap();
        guard.push("waiter");
        order.push(turn);
    }
    assert_eq!(order, [0, 1, 2, 3, 4]);
    drop(waiters);
    let guard = mutex
        .try_lock()
        .expect("the queue has drained: free at once");
    assert_eq!(guard.len(), 6);
}

/// The fast path and the queue mixed on two workers: tasks that take the lock by `try_lock`
/// when they can, and by `lock` when they cannot, never overlap, and the count is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_lock_and_lock_mixed_across_threads_keep_the_data_exact() {
    const TASKS: usize = 8;
    const ROUNDS: usize = 2_000;
    let counter = Arc::new(MutexWithContext::new(0_usize));
    let workers: Vec<_> = (0..TASKS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let ctx = Context::background();
                for round in 0..ROUNDS {
                    let mut guard = match counter.try_lock() {
                        Some(guard) => guard,
                        None => counter.lock(&ctx).await?,
                    };
                    let seen = *guard;
                    if round % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                    *guard = seen + 1;
                }
                Ok::<(), BoxError>(())
            })
        })
        .collect();
    for worker in workers {
        timeout(Duration::from_secs(60), worker)
            .await
            .expect("worker hung")
            .unwrap()
            .unwrap();
    }
    assert_eq!(*counter.try_lock().unwrap(), TASKS * ROUNDS);
}
