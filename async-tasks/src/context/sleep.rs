//! [`sleep`] and [`sleep_until`]: pauses that end early when their context does.

use std::time::Duration;

use tokio::time::Instant;

use super::Context;
use super::error::ContextError;

/// Sleeps for `duration`, or less if `ctx` is done first, as Go's `async.Sleep`.
///
/// `Duration::MAX` and other durations past the end of time are fine: they sleep until the
/// context is done.
///
/// # Errors
///
/// `Ok(())` means the full time was slept. If `ctx` is done first (or was done already),
/// returns its error at once; when `ctx`'s deadline comes before the end of the sleep,
/// that is [`ContextError::DeadlineExceeded`] at the deadline.
///
/// # Cancel safety
///
/// Cancel safe: dropping the future just stops the sleep.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{sleep, Context};
/// use async_tasks::context::ContextError;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let ctx = Context::background();
/// assert_eq!(sleep(&ctx, Duration::from_secs(60)).await, Ok(()));
///
/// let (short, _cancel) = ctx.with_timeout(Duration::from_secs(1));
/// assert_eq!(
///     sleep(&short, Duration::from_secs(60)).await,
///     Err(ContextError::DeadlineExceeded)
/// );
/// # }
/// ```
pub async fn sleep(ctx: &Context, duration: Duration) -> Result<(), ContextError> {
    match Instant::now().checked_add(duration) {
        Some(at) => sleep_until(ctx, at).await,
        None => Err(wait_done(ctx).await),
    }
}

/// Sleeps until `at`, or less if `ctx` is done first, as Go's `async.SleepUntil`.
///
/// An instant in the past returns at once; one in the far future sleeps until the context is
/// done.
///
/// # Errors
///
/// As [`sleep`]: `Ok(())` once `at` is reached, the context's error if it is done first.
///
/// # Cancel safety
///
/// Cancel safe: dropping the future just stops the sleep.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{sleep_until, Context};
/// use async_tasks::context::ContextError;
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let (ctx, cancel) = Context::background().with_cancel();
/// let start = Instant::now();
/// assert_eq!(sleep_until(&ctx, start + Duration::from_secs(5)).await, Ok(()));
/// assert_eq!(start.elapsed(), Duration::from_secs(5));
///
/// cancel.cancel();
/// assert_eq!(
///     sleep_until(&ctx, start + Duration::from_secs(60)).await,
///     Err(ContextError::Canceled)
/// );
/// # }
/// ```
pub async fn sleep_until(ctx: &Context, at: Instant) -> Result<(), ContextError> {
    if let Some(err) = ctx.err() {
        return Err(err);
    }
    match ctx.deadline() {
        // The context ends first (or together): its own timer is the only one needed.
        Some(deadline) if deadline <= at => Err(wait_done(ctx).await),
        _ => {
            tokio::select! {
                biased;
                () = ctx.canceled() => Err(ctx.err().unwrap_or(ContextError::Canceled)),
                () = tokio::time::sleep_until(at) => Ok(()),
            }
        }
    }
}

///
/// # Cancel safety
///
/// Cancel safe: it only waits.
async fn wait_done(ctx: &Context) -> ContextError {
    ctx.done().await;
    // A done context always has an error; `Canceled` is only a fallback for the type.
    ctx.err().unwrap_or(ContextError::Canceled)
}
