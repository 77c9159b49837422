//! [`LoopPolicy`]: how a loop started with [`Tasks::run_loop_with`](crate::task::Tasks::run_loop_with)
//! repeats — a pause between iterations, retries with backoff, a limit on failures — and
//! [`StopLoop`], with which a runner ends its loop cleanly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;

/// A fresh backoff sequence: called again after every success, so that the delays restart.
type MakeBackoff = Arc<dyn Fn() -> Box<dyn Iterator<Item = Duration> + Send> + Send + Sync>;

/// How a loop repeats: what [`Tasks::run_loop_with`](crate::task::Tasks::run_loop_with) does
/// between iterations and after a failure.
///
/// [`LoopPolicy::new`] is [`Tasks::run_loop`](crate::task::Tasks::run_loop)'s policy: the next
/// iteration starts at once, and the first error ends the loop. On top of that:
///
/// - [`every`](LoopPolicy::every): pause this long after each iteration that did not fail
///   (the pause ends early, and the loop with it, when the loop's context is done);
/// - [`on_error`](LoopPolicy::on_error): after a failed iteration, wait the next delay of a
///   backoff (from [`backon`], e.g. its `ExponentialBuilder` with jitter and
///   a maximum delay) and try again instead of stopping; a success starts the delays over;
/// - [`max_failures`](LoopPolicy::max_failures): give up after this many failures in a row.
///   This is the one cap on failures: a backoff's own limit on its delays (backon's
///   builders stop after 3 by default) only says when its delays stop growing — after
///   its last delay, that delay repeats. Without `max_failures`, a loop that retries
///   retries for as long as it fails.
///
/// Whatever the policy, a panic ends the loop (it is a bug, not a failure to retry), an
/// error that is [`ContextError::Canceled`](crate::context::ContextError::Canceled) is not a failure,
/// and a runner ends its loop cleanly, with nothing reported, by returning [`StopLoop`].
///
/// Each iteration's span has an `iteration` field (1, 2, ...) and, when it retries after
/// failures, an `attempt` field (2 for the first retry, ...). Each failure's event names the
/// `attempt` that failed (1 for the first failure in a row) and, when the policy retries,
/// the pause before the next (`retry_in`): see
/// [`Tasks::run_loop_with`](crate::task::Tasks::run_loop_with).
///
/// # Examples
///
/// A poller that runs every 30 s, retries failures after 1 s, 2 s, 4 s, ... (at most 60 s,
/// with jitter), and gives up after 10 failures in a row:
///
/// ```
/// use std::time::Duration;
/// use async_tasks::task::LoopPolicy;
/// use async_tasks::backon::ExponentialBuilder;
///
/// let policy = LoopPolicy::every(Duration::from_secs(30))
///     .on_error(
///         ExponentialBuilder::default()
///             .with_min_delay(Duration::from_secs(1))
///             .with_max_delay(Duration::from_secs(60))
///             .with_jitter(),
///     )
///     .max_failures(10);
/// # let _ = policy;
/// ```
#[derive(Clone, Default)]
pub struct LoopPolicy {
    pub(crate) every: Option<Duration>,
    backoff: Option<MakeBackoff>,
    max_failures: Option<u32>,
}

/// A loop's failures in a row, and the backoff delays they have used: what
/// [`LoopPolicy::retry_after`] decides from. A success starts it over.
#[derive(Default)]
pub(crate) struct Retries {
    failures: u32,
    delays: Option<Box<dyn Iterator<Item = Duration> + Send>>,
    /// The backoff's last delay, repeated once it has no more.
    last: Option<Duration>,
}

impl Retries {
    /// Failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

impl LoopPolicy {
    /// The policy of [`Tasks::run_loop`](crate::task::Tasks::run_loop): no pause, and the first
    /// error ends the loop.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that pauses `pause` after each iteration that did not fail.
    #[must_use]
    pub fn every(pause: Duration) -> Self {
        Self::new().with_pause(pause)
    }

    /// Pauses `pause` after each iteration that did not fail.
    #[must_use]
    pub fn with_pause(mut self, pause: Duration) -> Self {
        self.every = Some(pause);
        self
    }

    /// Retries a failed iteration after the next delay of `backoff`, instead of ending the
    /// loop. The delays start over after each success.
    ///
    /// `backoff` is any [`backon::BackoffBuilder`] that can be cloned, such
    /// as [`async_tasks::backon`](crate::backon)'s `ExponentialBuilder`, `ConstantBuilder` or
    /// `FibonacciBuilder`. It gives the delays, not the cap: once it has no more delays (its
    /// `with_max_times`, 3 by default), its last delay repeats. Cap the failures in a row
    /// with [`max_failures`](LoopPolicy::max_failures).
    #[must_use]
    pub fn on_error<B>(mut self, backoff: B) -> Self
    where
        B: BackoffBuilder + Clone + 'static,
        B::Backoff: Send + 'static,
    {
        self.backoff = Some(Arc::new(move || {
            Box::new(backoff.clone().build()) as Box<dyn Iterator<Item = Duration> + Send>
        }));
        self
    }

    /// Gives up after `failures` failed iterations in a row. Without
    /// [`on_error`](LoopPolicy::on_error) the first failure ends the loop anyway.
    ///
    /// # Panics
    ///
    /// Panics if `failures` is 0: a loop always gets one try.
    #[must_use]
    pub fn max_failures(mut self, failures: u32) -> Self {
        assert!(
            failures > 0,
            "`LoopPolicy::max_failures` must be at least 1"
        );
        self.max_failures = Some(failures);
        self
    }

    /// Counts one more failure in `retries` and says how long to wait before trying again,
    /// or `None` to end the loop: when failures are not retried, or when there were
    /// `max_failures` in a row (the one cap: a backoff out of delays repeats its last).
    pub(crate) fn retry_after(&self, retries: &mut Retries) -> Option<Duration> {
        let make = self.backoff.as_ref()?;
        retries.failures += 1;
        if self.max_failures.is_some_and(|max| retries.failures >= max) {
            return None;
        }
        let next = retries.delays.get_or_insert_with(|| make()).next();
        let delay = next.or(retries.last).unwrap_or(Duration::ZERO);
        retries.last = Some(delay);
        Some(delay)
    }

    /// Whether failures are retried at all.
    pub(crate) fn retries(&self) -> bool {
        self.backoff.is_some()
    }
}

impl fmt::Debug for LoopPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopPolicy")
            .field("every", &self.every)
            .field("retries", &self.retries())
            .field("max_failures", &self.max_failures)
            .finish()
    }
}

/// Returned by a runner to end its loop cleanly: the loop stops, and nothing is reported.
///
/// Works with [`Tasks::run_loop`](crate::task::Tasks::run_loop) and
/// [`Tasks::run_loop_with`](crate::task::Tasks::run_loop_with) (and, like any error, ends a
/// single [`Tasks::run`](crate::task::Tasks::run) without a report). Recognised anywhere in the
/// error's `source()` chain.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use async_tasks::{Context, Func, Tasks};
/// use async_tasks::task::StopLoop;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tasks = Tasks::new("drain");
/// let left = Arc::new(AtomicUsize::new(3));
/// let queue = Arc::clone(&left);
/// tasks.run_loop(&Context::background(), Func::new(move |_ctx| {
///     let queue = Arc::clone(&queue);
///     async move {
///         if queue.load(Ordering::SeqCst) == 0 {
///             return Err(StopLoop.into()); // drained: end the loop, quietly
///         }
///         queue.fetch_sub(1, Ordering::SeqCst);
///         Ok(())
///     }
/// }));
/// tasks.wait().await;
/// assert_eq!(left.load(Ordering::SeqCst), 0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopLoop;

impl StopLoop {
    /// Its message, as `Display` writes it.
    pub(crate) const TEXT: &'static str = "loop stopped by its runner";
}

impl fmt::Display for StopLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::TEXT)
    }
}

impl std::error::Error for StopLoop {}
