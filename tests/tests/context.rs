//! `Context`, `CancelHandle` and `ContextError`, as a user sees them.
//!
//! Covers:
//! - the background context: never done, no deadline, `done()` never resolves;
//! - `with_cancel`: canceling reaches the child and its children, never the parent;
//!   canceling twice is harmless; dropping every `CancelHandle` does **not** cancel;
//! - `with_timeout` / `with_deadline`: the deadline itself, "the earliest deadline wins",
//!   deadlines in the past, `Duration::ZERO`, `Duration::MAX` and timeouts whose deadline
//!   would overflow (no deadline of their own), far-future instants that never panic;
//! - `err()` says `DeadlineExceeded` once the deadline has passed even though nobody polled
//!   `done()`, and is sticky: the first reason wins, for the context and its children;
//! - a child of a done context is born done with the parent's reason;
//! - `done()` wakes its waiter on cancel (manual polling), on a parent's cancel, at the
//!   deadline (exact paused time), and from another thread;
//! - `ContextError`'s `Display`, `Error`, `Copy`/`Eq`; the auto traits of `Context` and
//!   `CancelHandle`.

use std::time::Duration;

use async_tasks::Context;
use async_tasks::context::{CancelHandle, ContextError};
use tokio::time::{Instant, advance, timeout};
use tokio_test::{assert_pending, assert_ready, task};

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

#[test]
fn context_and_handle_have_the_promised_traits() {
    fn context<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    fn handle<T: Clone + Send + Sync + 'static>() {}
    fn error<T: std::error::Error + Copy + Eq + Send + Sync + 'static>() {}
    context::<Context>();
    handle::<CancelHandle>();
    error::<ContextError>();
}

#[test]
fn context_error_display_matches_go() {
    assert_eq!(ContextError::Canceled.to_string(), "context canceled");
    assert_eq!(
        ContextError::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
    assert_ne!(ContextError::Canceled, ContextError::DeadlineExceeded);
    // It converts into the runner error type and can be found again.
    let boxed: async_tasks::BoxError = ContextError::Canceled.into();
    assert_eq!(
        boxed.downcast_ref::<ContextError>(),
        Some(&ContextError::Canceled)
    );
}

#[test]
fn debug_output_names_the_type() {
    let (ctx, cancel) = Context::background().with_cancel();
    assert!(format!("{ctx:?}").contains("Context"));
    cancel.cancel();
    assert!(format!("{:?}", ctx.clone()).contains("Context"));
}

#[tokio::test(start_paused = true)]
async fn background_is_never_done() {
    let ctx = Context::background();
    assert_eq!(ctx.err(), None);
    assert!(!ctx.is_done());
    assert_eq!(ctx.deadline(), None);
    advance(100 * YEAR).await;
    assert!(timeout(YEAR, ctx.done()).await.is_err());
    assert_eq!(ctx.err(), None);
}

#[test]
fn cancel_reaches_children_and_grandchildren_but_not_the_parent() {
    let root = Context::background();
    let (parent, cancel_parent) = root.with_cancel();
    let (child, _cancel_child) = parent.with_cancel();
    let (grandchild, _cancel_grandchild) = child.with_cancel();
    let (sibling, cancel_sibling) = parent.with_cancel();

    cancel_sibling.cancel();
    assert_eq!(sibling.err(), Some(ContextError::Canceled));
    assert_eq!(
        parent.err(),
        None,
        "a child's cancel must not reach its parent"
    );
    assert_eq!(child.err(), None, "nor its siblings");

    cancel_parent.cancel();
    for ctx in [&parent, &child, &grandchild] {
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        assert!(ctx.is_done());
    }
    assert!(!root.is_done());
}

#[test]
fn cancel_is_idempotent_and_clones_of_a_context_share_its_state() {
    let (ctx, cancel) = Context::background().with_cancel();
    let copy = ctx.clone();
    cancel.cancel();
    cancel.cancel();
    cancel.clone().cancel();
    assert_eq!(copy.err(), Some(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_cancel_handle_does_not_cancel() {
    let (ctx, cancel) = Context::background().with_cancel();
    drop(cancel);
    assert_eq!(ctx.err(), None);
    assert!(timeout(YEAR, ctx.done()).await.is_err());

    let (timed, cancel) = Context::background().with_timeout(Duration::from_secs(10));
    drop(cancel);
    advance(Duration::from_secs(9)).await;
    assert_eq!(timed.err(), None);
    // ...but its deadline still applies.
    advance(Duration::from_secs(1)).await;
    assert_eq!(timed.err(), Some(ContextError::DeadlineExceeded));

    // A clone of the handle keeps working after the original is dropped.
    let (ctx, cancel) = Context::background().with_cancel();
    let kept = cancel.clone();
    drop(cancel);
    assert!(!ctx.is_done());
    kept.cancel();
    assert!(ctx.is_done());
}

#[test]
fn a_child_of_a_done_context_is_born_done_with_its_reason() {
    let (parent, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (child, _c) = parent.with_cancel();
    assert_eq!(child.err(), Some(ContextError::Canceled));
    let (timed, _c) = parent.with_timeout(Duration::from_secs(60));
    assert_eq!(timed.err(), Some(ContextError::Canceled));

    let (expired, _c) = Context::background().with_timeout(Duration::ZERO);
    let (child, _c) = expired.with_cancel();
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn with_timeout_sets_the_deadline_and_expires_exactly_then() {
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(5));
    assert_eq!(ctx.deadline(), Some(start + Duration::from_secs(5)));

    advance(Duration::from_secs(5) - Duration::from_millis(1)).await;
    assert_eq!(ctx.err(), None, "done before its deadline");
    advance(Duration::from_millis(1)).await;
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn err_reports_a_passed_deadline_even_if_nobody_polled_done() {
    let (parent, _c1) = Context::background().with_timeout(Duration::from_secs(1));
    let (child, _c2) = parent.with_cancel();
    let (grandchild, _c3) = child.with_timeout(Duration::from_secs(3600));
    advance(Duration::from_secs(2)).await;
    // Only the clock moved: no `done()` was ever polled.
    assert_eq!(grandchild.err(), Some(ContextError::DeadlineExceeded));
    assert!(child.is_done());
    assert_eq!(parent.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn done_resolves_at_the_deadline_exactly() {
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(1500));
    timeout(Duration::from_secs(60), ctx.done()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

    // Through a child that has no deadline of its own, too.
    let start = Instant::now();
    let (parent, _c) = Context::background().with_timeout(Duration::from_secs(2));
    let (child, _c) = parent.with_cancel();
    timeout(Duration::from_secs(60), child.done())
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn the_earliest_deadline_wins() {
    let now = Instant::now();
    let (parent, _c) = Context::background().with_deadline(now + Duration::from_secs(10));

    let (later, _c) = parent.with_deadline(now + Duration::from_secs(60));
    assert_eq!(later.deadline(), Some(now + Duration::from_secs(10)));
    let (later, _c) = parent.with_timeout(Duration::from_secs(60));
    assert_eq!(later.deadline(), Some(now + Duration::from_secs(10)));

    let (earlier, _c) = parent.with_deadline(now + Duration::from_secs(3));
    assert_eq!(earlier.deadline(), Some(now + Duration::from_secs(3)));
    let (earlier, _c) = parent.with_timeout(Duration::from_secs(3));
    assert_eq!(earlier.deadline(), Some(now + Duration::from_secs(3)));

    // A child without a deadline of its own inherits the parent's.
    let (child, _c) = parent.with_cancel();
    assert_eq!(child.deadline(), Some(now + Duration::from_secs(10)));

    // The later child expires with its parent, the earlier one by itself.
    advance(Duration::from_secs(3)).await;
    assert_eq!(earlier.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(later.err(), None);
    advance(Duration::from_secs(7)).await;
    assert_eq!(later.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_in_the_past_or_a_zero_timeout_is_done_at_once() {
    advance(Duration::from_secs(10)).await;
    let past = Instant::now() - Duration::from_secs(1);
    let (ctx, _c) = Context::background().with_deadline(past);
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    let start = Instant::now();
    timeout(Duration::from_secs(1), ctx.done()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);

    let (ctx, _c) = Context::background().with_deadline(Instant::now());
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

    let (ctx, _c) = Context::background().with_timeout(Duration::ZERO);
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn with_timeout_duration_max_adds_no_deadline() {
    let (ctx, _c) = Context::background().with_timeout(Duration::MAX);
    assert_eq!(ctx.deadline(), None);
    assert_eq!(ctx.err(), None);
    assert!(timeout(YEAR, ctx.done()).await.is_err());
    assert_eq!(ctx.err(), None);

    // Under a parent with a deadline, the parent's deadline stays.
    let (parent, _c) = Context::background().with_timeout(Duration::from_secs(1));
    let (child, _c) = parent.with_timeout(Duration::MAX);
    assert_eq!(child.deadline(), parent.deadline());
    timeout(Duration::from_secs(60), child.done())
        .await
        .unwrap();
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
}

#[tokio::test(start_paused = true)]
async fn an_overflowing_timeout_adds_no_deadline_but_still_cancels() {
    // Neither is `Duration::MAX`, both overflow any `Instant`.
    for d in [
        Duration::from_secs(u64::MAX),
        Duration::MAX - Duration::from_secs(1),
    ] {
        let (ctx, cancel) = Context::background().with_timeout(d);
        assert_eq!(ctx.deadline(), None);
        assert!(!ctx.is_done());
        cancel.cancel();
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    }
}

#[tokio::test(start_paused = true)]
async fn a_far_future_deadline_never_panics() {
    let far = Instant::now() + 1000 * YEAR;
    let (ctx, cancel) = Context::background().with_deadline(far);
    assert_eq!(ctx.deadline(), Some(far));
    assert!(timeout(YEAR, ctx.done()).await.is_err());
    assert_eq!(ctx.err(), None);
    // Waiting still ends on cancel.
    let waiter = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            ctx.done().await;
            ctx.err()
        }
    });
    cancel.cancel();
    let err = timeout(Duration::from_secs(1), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(err, Some(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn err_is_sticky_the_first_reason_wins() {
    // Canceled first: the deadline passing later changes nothing.
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
    cancel.cancel();
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    advance(Duration::from_secs(2)).await;
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    assert!(ctx.deadline().is_some());

    // The deadline passed (unobserved) before the cancel: the deadline came first.
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
    advance(Duration::from_secs(2)).await;
    cancel.cancel();
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

    // A child's own expired deadline is not overwritten by a later parent cancel.
    let (parent, cancel_parent) = Context::background().with_cancel();
    let (child, _c) = parent.with_timeout(Duration::from_secs(1));
    advance(Duration::from_secs(2)).await;
    cancel_parent.cancel();
    assert_eq!(parent.err(), Some(ContextError::Canceled));
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));

    // A canceled child stays canceled when its parent's deadline passes.
    let (parent, _c) = Context::background().with_timeout(Duration::from_secs(1));
    let (child, cancel_child) = parent.with_cancel();
    cancel_child.cancel();
    advance(Duration::from_secs(2)).await;
    assert_eq!(parent.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(child.err(), Some(ContextError::Canceled));
}

#[tokio::test]
async fn done_wakes_its_waiter_on_cancel() {
    let (ctx, cancel) = Context::background().with_cancel();
    let mut done = task::spawn(ctx.done());
    assert_pending!(done.poll());
    assert_pending!(done.poll());
    cancel.cancel();
    assert!(done.is_woken(), "cancel must wake a pending done()");
    assert_ready!(done.poll());
}

#[tokio::test]
async fn done_wakes_on_a_parents_cancel_and_every_waiter_wakes() {
    let (parent, cancel) = Context::background().with_cancel();
    let (child, _c) = parent.with_cancel();
    let (grandchild, _c) = child.with_timeout(Duration::from_secs(3600));
    let mut waiters = [
        task::spawn(child.done()),
        task::spawn(grandchild.done()),
        task::spawn(child.done()),
    ];
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    cancel.cancel();
    for w in &mut waiters {
        assert!(w.is_woken());
        assert_ready!(w.poll());
    }
}

#[tokio::test]
async fn done_resolves_at_once_for_a_done_context() {
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let mut done = task::spawn(ctx.done());
    assert_ready!(done.poll());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_from_another_thread_wakes_done() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            let done = ctx.done();
            started_tx.send(()).unwrap();
            done.await;
            ctx.err()
        }
    });
    started_rx.await.unwrap();
    std::thread::spawn(move || cancel.cancel()).join().unwrap();
    let err = timeout(Duration::from_secs(10), waiter)
        .await
        .expect("done() was not woken")
        .unwrap();
    assert_eq!(err, Some(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn contexts_cross_tasks() {
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(30));
    let seen = tokio::spawn({
        let ctx = ctx.clone();
        async move { (ctx.deadline(), ctx.err()) }
    })
    .await
    .unwrap();
    assert_eq!(seen, (ctx.deadline(), None));
    cancel.cancel();
    let seen = tokio::spawn(async move { ctx.err() }).await.unwrap();
    assert_eq!(seen, Some(ContextError::Canceled));
}

/// A stream-like struct that owns its context's `done` future and polls it by hand, as a
/// hand-written `select!` loop does: the future is nameable and `Unpin`.
struct Ticker {
    done: async_tasks::context::DoneOwned,
    ticks: u32,
}

impl Ticker {
    fn poll_tick(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<u32>> {
        use std::future::Future;
        if std::pin::Pin::new(&mut self.done).poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        self.ticks += 1;
        std::task::Poll::Ready(Some(self.ticks))
    }
}

#[test]
fn the_done_futures_are_nameable_and_wake_like_done() {
    fn nameable<F: std::future::Future<Output = ()> + Send + Sync + std::fmt::Debug>(_: &F) {}
    let (ctx, cancel) = Context::background().with_cancel();
    let done: async_tasks::context::Done<'_> = ctx.done();
    let closing: async_tasks::context::Closing<'_> = ctx.closing();
    nameable(&done);
    nameable(&closing);
    let mut done = task::spawn(done);
    let mut closing = task::spawn(closing);
    assert_pending!(done.poll());
    assert_pending!(closing.poll());
    cancel.cancel();
    assert!(done.is_woken() && closing.is_woken());
    assert_ready!(done.poll());
    assert_ready!(closing.poll(), "a done context is closing too");

    let (ctx, cancel) = Context::background().with_cancel();
    let mut ticker = Ticker {
        done: ctx.clone().done_owned(),
        ticks: 0,
    };
    assert_eq!(ticker.done.context().err(), None);
    let mut tick = task::spawn(std::future::poll_fn(|cx| ticker.poll_tick(cx)));
    assert_eq!(assert_ready!(tick.poll()), Some(1));
    drop(tick);
    cancel.cancel();
    let mut tick = task::spawn(std::future::poll_fn(|cx| ticker.poll_tick(cx)));
    assert_eq!(assert_ready!(tick.poll()), None);
}

#[tokio::test(start_paused = true)]
async fn the_done_future_of_the_background_context_never_resolves() {
    let background = Context::background();
    assert!(timeout(YEAR, background.done()).await.is_err());
    assert!(timeout(YEAR, background.closing()).await.is_err());
    assert!(
        timeout(YEAR, background.done_owned()).await.is_err(),
        "nor its owned form"
    );
}
