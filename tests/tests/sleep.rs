//! `sleep` and `sleep_until` on tokio's paused clock.
//!
//! Covers:
//! - `Ok(())` after exactly the full time (also zero, and under a context whose deadline
//!   comes later);
//! - `Err(ctx.err())` when the context ends first: canceled mid-sleep (at that instant),
//!   deadline first (`DeadlineExceeded` at the deadline), already done (at once);
//! - `sleep_until` an instant in the past or now returns `Ok` at once;
//! - `Duration::MAX`, overflowing durations and far-future instants never panic: they sleep
//!   until the context ends (or forever on the background context);
//! - a dropped sleep leaves nothing behind (the context and later sleeps are unaffected).

use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{Context, sleep, sleep_until};
use tokio::time::{Instant, timeout};

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Cancels `cancel` after `after` of paused time, from another task.
fn cancel_after(cancel: async_tasks::context::CancelHandle, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        cancel.cancel();
    });
}

#[tokio::test(start_paused = true)]
async fn sleep_returns_ok_after_exactly_the_full_time() {
    let ctx = Context::background();
    let start = Instant::now();
    assert_eq!(sleep(&ctx, Duration::from_millis(2500)).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_millis(2500));

    let start = Instant::now();
    assert_eq!(sleep(&ctx, Duration::ZERO).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn sleep_under_a_later_deadline_is_ok() {
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(10));
    let start = Instant::now();
    assert_eq!(sleep(&ctx, Duration::from_secs(3)).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(ctx.err(), None);
}

#[tokio::test(start_paused = true)]
async fn sleep_returns_canceled_when_the_ctx_is_canceled_mid_sleep() {
    let (ctx, cancel) = Context::background().with_cancel();
    cancel_after(cancel, Duration::from_secs(2));
    let start = Instant::now();
    let result = timeout(YEAR, sleep(&ctx, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(result, Err(ContextError::Canceled));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn sleep_returns_deadline_exceeded_at_the_deadline() {
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(4));
    let start = Instant::now();
    assert_eq!(
        sleep(&ctx, Duration::from_secs(60)).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert_eq!(start.elapsed(), Duration::from_secs(4));

    // A parent's deadline counts the same.
    let (parent, _c) = Context::background().with_timeout(Duration::from_secs(1));
    let (child, _c) = parent.with_cancel();
    let start = Instant::now();
    assert_eq!(
        sleep_until(&child, start + Duration::from_secs(60)).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn sleep_with_a_done_ctx_returns_its_error_at_once() {
    let (canceled, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (expired, _c) = Context::background().with_timeout(Duration::ZERO);
    let start = Instant::now();
    assert_eq!(
        sleep(&canceled, Duration::from_secs(1)).await,
        Err(ContextError::Canceled)
    );
    assert_eq!(
        sleep(&expired, Duration::from_secs(1)).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert_eq!(
        sleep_until(&canceled, start + Duration::from_secs(1)).await,
        Err(ContextError::Canceled)
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn sleep_until_a_past_instant_or_now_returns_at_once() {
    tokio::time::advance(Duration::from_secs(10)).await;
    let ctx = Context::background();
    let start = Instant::now();
    assert_eq!(
        sleep_until(&ctx, start - Duration::from_secs(1)).await,
        Ok(())
    );
    assert_eq!(sleep_until(&ctx, start).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn sleep_until_returns_ok_at_the_instant() {
    let ctx = Context::background();
    let start = Instant::now();
    let at = start + Duration::from_millis(1234);
    assert_eq!(sleep_until(&ctx, at).await, Ok(()));
    assert_eq!(Instant::now(), at);
}

#[tokio::test(start_paused = true)]
async fn sleeping_for_duration_max_never_panics_and_waits_for_the_ctx() {
    // On the background context it simply never ends.
    let ctx = Context::background();
    for d in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        assert!(timeout(YEAR, sleep(&ctx, d)).await.is_err());
    }

    // A cancel ends it with `Canceled`...
    let (ctx, cancel) = Context::background().with_cancel();
    cancel_after(cancel, Duration::from_secs(3));
    let start = Instant::now();
    let result = timeout(YEAR, sleep(&ctx, Duration::MAX)).await.unwrap();
    assert_eq!(result, Err(ContextError::Canceled));
    assert_eq!(start.elapsed(), Duration::from_secs(3));

    // ...and a deadline with `DeadlineExceeded`, at the deadline.
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(7));
    let start = Instant::now();
    let result = timeout(YEAR, sleep(&ctx, Duration::MAX)).await.unwrap();
    assert_eq!(result, Err(ContextError::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn sleeping_until_a_far_future_instant_never_panics() {
    let far = Instant::now() + 1000 * YEAR;
    let ctx = Context::background();
    assert!(timeout(YEAR, sleep_until(&ctx, far)).await.is_err());

    let (ctx, cancel) = Context::background().with_cancel();
    cancel_after(cancel, Duration::from_secs(5));
    let start = Instant::now();
    let result = timeout(YEAR, sleep_until(&ctx, far)).await.unwrap();
    assert_eq!(result, Err(ContextError::Canceled));
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // And under a far-future deadline of the context itself.
    let (ctx, cancel) = Context::background().with_deadline(far);
    cancel_after(cancel, Duration::from_secs(5));
    let result = timeout(YEAR, sleep(&ctx, Duration::MAX)).await.unwrap();
    assert_eq!(result, Err(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_sleep_leaves_the_ctx_and_later_sleeps_unaffected() {
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(10));
    assert!(
        timeout(Duration::from_secs(1), sleep(&ctx, Duration::from_secs(5)))
            .await
            .is_err()
    );
    assert_eq!(ctx.err(), None);
    let start = Instant::now();
    assert_eq!(sleep(&ctx, Duration::from_secs(2)).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}
