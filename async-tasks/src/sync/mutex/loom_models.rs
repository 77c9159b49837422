//! Model checks of the lock's fast path against its queue, run with
//! `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.
//!
//! `data` (futures' lock) and the turnstile (tokio's semaphore) are not built on loom's
//! atomics: to loom each call into them is one step, taken as correct (as tokio's own models
//! check tokio's), and the threads switch at the context's atomics and at the models' own
//! (the holders' count, taken while holding the lock). What these models check is this
//! module's composition of the two: the fast path against queued lockers, the turn, the
//! context, and futures dropped at any of those points. The wakers here raise a plain flag: a loom
//! wake-up can switch threads, and `data`'s unlock wakes its waiter under its own
//! (non-loom) mutex, which another loom thread could then block on for real.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use loom::thread;

use super::*;

/// A waker that raises a flag.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// A future polled by hand on a loom thread, with a waker that raises a flag.
struct Polled<F> {
    flag: Arc<Flag>,
    waker: Waker,
    future: std::pin::Pin<Box<F>>,
}

impl<F: Future> Polled<F> {
    fn new(future: F) -> Self {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        Polled {
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            future: Box::pin(future),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        self.future
            .as_mut()
            .poll(&mut TaskContext::from_waker(&self.waker))
    }

    /// Polls to completion: again each time the waker is woken, yielding to the other
    /// threads meanwhile. A wake-up that never comes leaves this thread yielding forever,
    /// which loom reports as a failure (the model never ends its branches).
    fn finish(mut self) -> F::Output {
        loop {
            if let Poll::Ready(out) = self.poll() {
                return out;
            }
            while !self.flag.0.swap(false, SeqCst) {
                thread::yield_now();
            }
        }
    }
}

/// Locks with `ctx` to the end; while held, checks that no one else holds it and counts.
fn lock_and_count(mutex: &MutexWithContext<usize>, inside: &crate::loom::AtomicUsize) {
    let ctx = Context::background();
    let mut guard = Polled::new(mutex.lock(&ctx)).finish().unwrap();
    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
    *guard += 1;
    inside.fetch_sub(1, SeqCst);
}

/// Free, the turn free (nobody queued), and the fast path back.
fn assert_free<T>(mutex: &MutexWithContext<T>) {
    assert_eq!(mutex.turnstile.available_permits(), 1, "the turn leaked");
    assert!(mutex.try_lock().is_some(), "the lock leaked");
}

#[test]
fn loom_two_lockers_never_hold_the_lock_together_and_both_get_it() {
    loom::model(|| {
        let mutex = Arc::new(MutexWithContext::new(0));
        let inside = Arc::new(crate::loom::AtomicUsize::new(0));
        let other = {
            let (mutex, inside) = (Arc::clone(&mutex), Arc::clone(&inside));
            thread::spawn(move || lock_and_count(&mutex, &inside))
        };
        lock_and_count(&mutex, &inside);
        other.join().unwrap();
        assert_free(&mutex);
        assert_eq!(*mutex.try_lock().unwrap(), 2);
    });
}

#[test]
fn loom_a_locker_queued_behind_a_fast_path_holder_is_woken() {
    loom::model(|| {
        let mutex = Arc::new(MutexWithContext::new(0));
        let held = mutex.try_lock().unwrap();
        let waiter = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let ctx = Context::background();
                *Polled::new(mutex.lock(&ctx)).finish().unwrap() += 1;
            })
        };
        drop(held);
        // Locks again at once: through the fast path or behind the waiter.
        let ctx = Context::background();
        *Polled::new(mutex.lock(&ctx)).finish().unwrap() += 1;
        waiter.join().unwrap();
        assert_free(&mutex);
        assert_eq!(*mutex.try_lock().unwrap(), 2);
    });
}

#[test]
fn loom_a_lock_future_dropped_while_queued_leaks_nothing() {
    loom::model(|| {
        let mutex = Arc::new(MutexWithContext::new(()));
        let held = mutex.try_lock().unwrap();
        let quitter = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let ctx = Context::background();
                let mut lock = Polled::new(mutex.lock(&ctx));
                // Queued, or the lock if it came first: either way, dropped.
                let _ = lock.poll();
            })
        };
        drop(held);
        quitter.join().unwrap();
        assert_free(&mutex);
    });
}

#[test]
fn loom_a_turn_given_up_passes_to_the_next_in_line() {
    loom::model(|| {
        let mutex = Arc::new(MutexWithContext::new(()));
        let held = mutex.try_lock().unwrap();
        let quitter = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let ctx = Context::background();
                // Queued (first or second in line, holding the turn or not), or holding
                // the lock if it came first: either way, dropped.
                let mut lock = Polled::new(mutex.lock(&ctx));
                let _ = lock.poll();
            })
        };
        let next = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let ctx = Context::background();
                drop(Polled::new(mutex.lock(&ctx)).finish().unwrap());
            })
        };
        drop(held);
        quitter.join().unwrap();
        next.join().unwrap();
        assert_free(&mutex);
    });
}

#[test]
fn loom_a_context_ending_while_queued_gives_up_or_gets_the_lock_and_leaks_nothing() {
    loom::model(|| {
        let mutex = Arc::new(MutexWithContext::new(()));
        let held = mutex.try_lock().unwrap();
        let (ctx, cancel) = Context::background().with_cancel();
        let waiter = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || match Polled::new(mutex.lock(&ctx)).finish() {
                Ok(guard) => drop(guard),
                Err(err) => assert_eq!(err, ContextError::Canceled),
            })
        };
        cancel.cancel();
        drop(held);
        waiter.join().unwrap();
        assert_free(&mutex);
    });
}
