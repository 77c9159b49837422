//! Cancellation, deadlines and closing, carried into every task: [`Context`], canceled
//! through a [`CancelHandle`] (or a [`CancelGuard`] when dropped), done with a
//! [`ContextError`] and a [`Cause`]; the futures that wait for it ([`Done`], [`Closing`],
//! [`DoneOwned`]); and [`sleep()`] and [`sleep_until`], which a context cuts short.

mod cancel;
mod done;
mod error;
mod node;
mod sleep;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

pub use self::cancel::{CancelGuard, CancelHandle};
pub use self::done::{Closing, ClosingOwned, Done, DoneOwned};
pub use self::error::{Cause, ContextError};
use self::node::Node;
pub(crate) use self::node::Why;
pub use self::sleep::{sleep, sleep_until};

/// Cancellation and a deadline, handed to every [`Runner`](crate::runner::Runner).
///
/// Go's `context.Context` without the values: a context is *done* once it is
/// canceled through a [`CancelHandle`], once its deadline passes, or once any of its parents
/// is done. Children are made with [`with_cancel`](Context::with_cancel),
/// [`with_timeout`](Context::with_timeout) and [`with_deadline`](Context::with_deadline);
/// the root is [`Context::background`], which is never done.
///
/// A `Context` is a cheap handle: cloning it is a reference-count increment, and
/// [`is_done`](Context::is_done) and [`err`](Context::err) read one atomic (plus the clock
/// when the context has a deadline). Nothing waits on a context until
/// [`done`](Context::done) is first polled.
///
/// Deadlines are [`tokio::time::Instant`]s, so tokio's paused clock (`start_paused`) drives
/// them in tests.
///
/// # Why not a `CancellationToken`
///
/// tokio-util's [`CancellationToken`](tokio_util::sync::CancellationToken) has one parent,
/// no reason and no deadline, and reads its state under a mutex. A task's context needs two
/// parents (the caller's context and its [`Tasks`](crate::task::Tasks)' shutdown), a sticky
/// reason and a deadline, on a path taken for every task; so the tree is this crate's own,
/// built from the same ideas and from tokio's `Notify`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::Context;
/// use async_tasks::context::ContextError;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let root = Context::background();
/// let (request, cancel_request) = root.with_cancel();
/// let (call, _cancel_call) = request.with_timeout(Duration::from_secs(5));
///
/// assert!(!call.is_done());
/// assert!(call.deadline().is_some());
///
/// // Canceling a parent reaches every child.
/// cancel_request.cancel();
/// call.done().await;
/// assert_eq!(call.err(), Some(ContextError::Canceled));
/// assert!(!root.is_done());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// `None` is the background context: never done, no deadline, nothing allocated.
    node: Option<Arc<Node>>,
}

impl Context {
    /// The root context: never done, with no deadline. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = async_tasks::Context::background();
    /// assert!(!ctx.is_done());
    /// assert_eq!(ctx.deadline(), None);
    /// ```
    #[must_use]
    pub fn background() -> Context {
        Context { node: None }
    }

    /// A child context that is done when this one is, or when the returned handle cancels it.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Context;
    /// use async_tasks::context::ContextError;
    ///
    /// let (parent, cancel_parent) = Context::background().with_cancel();
    /// let (child, _cancel_child) = parent.with_cancel();
    /// cancel_parent.cancel();
    /// assert_eq!(child.err(), Some(ContextError::Canceled));
    /// ```
    #[must_use]
    pub fn with_cancel(&self) -> (Context, CancelHandle) {
        self.child(None)
    }

    /// A child context whose deadline is `timeout` from now (or the parent's, if earlier).
    ///
    /// A timeout so long that the deadline cannot be represented adds no deadline of its own:
    /// `with_timeout(Duration::MAX)` is `with_cancel()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::Context;
    /// use async_tasks::context::ContextError;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(10));
    /// ctx.done().await;
    /// assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    ///
    /// let (forever, _cancel) = Context::background().with_timeout(Duration::MAX);
    /// assert_eq!(forever.deadline(), None);
    /// # }
    /// ```
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> (Context, CancelHandle) {
        self.child(Instant::now().checked_add(timeout))
    }

    /// A child context with deadline `at`, or the parent's deadline if that is earlier.
    ///
    /// A deadline in the past gives a context that is done at once with
    /// [`ContextError::DeadlineExceeded`] (unless the parent was done first).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::Context;
    /// use tokio::time::Instant;
    ///
    /// let soon = Instant::now() + Duration::from_secs(1);
    /// let later = soon + Duration::from_secs(60);
    /// let (parent, _c1) = Context::background().with_deadline(soon);
    /// let (child, _c2) = parent.with_deadline(later);
    /// assert_eq!(child.deadline(), Some(soon)); // the earliest deadline wins
    /// ```
    #[must_use]
    pub fn with_deadline(&self, at: Instant) -> (Context, CancelHandle) {
        self.child(Some(at))
    }

    fn child(&self, deadline: Option<Instant>) -> (Context, CancelHandle) {
        let node = Node::child(self.node.as_ref(), deadline);
        (
            Context {
                node: Some(Arc::clone(&node)),
            },
            CancelHandle { node },
        )
    }

    /// A context that is done (or closing) when either `self` or `other` is, with the earlier
    /// of their deadlines: a task's context, made from its caller's and its set's.
    ///
    /// Allocates nothing when one side already stands for both: the background context, the
    /// same context twice, or a context of which the other is an ancestor through joins (a
    /// task that runs itself again, from its own context, on its own set; or work handed
    /// from set to set and back). Otherwise the new node hangs on the fewest parents that
    /// stand for both sides (see the node's invariant 9), so that a chain of such runs
    /// keeps a bounded depth, whatever the order of the sets.
    pub(crate) fn join(&self, other: &Context) -> Context {
        match (&self.node, &other.node) {
            (None, _) => other.clone(),
            (_, None) => self.clone(),
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) || a.stands_for(b) => self.clone(),
            (Some(a), Some(b)) if b.stands_for(a) => other.clone(),
            (Some(a), Some(b)) => Context {
                node: Some(Node::join(a, b)),
            },
        }
    }

    /// The instant after which this context is done by itself, if it has one: the earliest of
    /// its own deadline and its parents'.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.node.as_ref().and_then(|node| node.deadline())
    }

    /// Why this context is done, or `None` while it is live.
    ///
    /// Once `Some`, it never changes. A passed deadline counts even if nothing has awaited
    /// [`done`](Context::done).
    #[must_use]
    #[inline]
    pub fn err(&self) -> Option<ContextError> {
        self.node.as_ref().and_then(|node| node.err())
    }

    /// Whether this context is done: `self.err().is_some()`.
    #[must_use]
    #[inline]
    pub fn is_done(&self) -> bool {
        self.err().is_some()
    }

    /// Resolves once this context is done: canceled, past its deadline, or a parent done.
    /// Never resolves for [`Context::background`].
    ///
    /// With a deadline, the returned future holds a tokio timer, so it must be polled inside
    /// a tokio runtime with time enabled.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only observes. Dropping the future loses nothing, and a
    /// new call resolves just as the dropped one would have.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Context;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let waiter = tokio::spawn({
    ///     let ctx = ctx.clone();
    ///     async move { ctx.done().await; ctx.err() }
    /// });
    /// cancel.cancel();
    /// assert!(waiter.await.unwrap().is_some());
    /// # }
    /// ```
    pub fn done(&self) -> Done<'_> {
        Done::new(self)
    }

    /// [`done`](Context::done), as a future that owns the context, for a struct to keep
    /// and poll in a hand-written `select!` loop (as tokio-util's
    /// `CancellationToken::cancelled_owned`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`done`](Context::done).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context as TaskContext, Poll};
    /// use async_tasks::context::{Context, DoneOwned};
    ///
    /// /// Yields numbers until its context is done.
    /// struct Counter {
    ///     done: DoneOwned,
    ///     next: u32,
    /// }
    ///
    /// impl Counter {
    ///     fn poll_next(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<u32>> {
    ///         if Pin::new(&mut self.done).poll(cx).is_ready() {
    ///             return Poll::Ready(None);
    ///         }
    ///         self.next += 1;
    ///         Poll::Ready(Some(self.next))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let mut counter = Counter { done: ctx.done_owned(), next: 0 };
    /// assert_eq!(std::future::poll_fn(|cx| counter.poll_next(cx)).await, Some(1));
    /// cancel.cancel();
    /// assert_eq!(std::future::poll_fn(|cx| counter.poll_next(cx)).await, None);
    /// # }
    /// ```
    pub fn done_owned(self) -> DoneOwned {
        DoneOwned::new(self)
    }

    /// Whether this context should take no new work: a [`Tasks`](crate::task::Tasks) it belongs to
    /// is closing ([`Tasks::close`](crate::task::Tasks::close), [`drain`](crate::task::Tasks::drain) or
    /// [`shutdown`](crate::task::Tasks::shutdown), its own or a parent set's), or the context is
    /// done.
    ///
    /// A task's context belongs to its set, and to every set its caller's context belongs
    /// to. A dispatcher checks this to stop taking work while the work it started finishes.
    /// Like [`is_done`](Context::is_done), it reads one atomic (plus the clock when the
    /// context has a deadline), and once `true` it stays so.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Tasks};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// tasks.run(&Context::background(), Func::new(|ctx| async move {
    ///     while !ctx.is_closing() {
    ///         // ... take one more job ...
    ///         ctx.closing().await; // (a real dispatcher selects on its queue too)
    ///     }
    ///     assert!(!ctx.is_done()); // closing, not canceled: in-flight work may finish
    ///     Ok(())
    /// }));
    /// tasks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    #[must_use]
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.node.as_ref().is_some_and(|node| node.is_closing())
    }

    /// Resolves once [`is_closing`](Context::is_closing) is `true`: a set this context
    /// belongs to starts to close, or the context is done. Never resolves for
    /// [`Context::background`].
    ///
    /// The future borrows the context. Where a `'static` future is wanted — a server's
    /// graceful shutdown signal, such as axum's `with_graceful_shutdown` — use
    /// [`closing_owned`](Context::closing_owned).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only observes. Dropping the future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Tasks};
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let (jobs, mut queue) = mpsc::channel::<u32>(8);
    /// let dispatcher = tasks.spawn(&Context::background(), "dispatcher", move |ctx| async move {
    ///     let mut taken = 0;
    ///     loop {
    ///         tokio::select! {
    ///             () = ctx.closing() => break, // stop taking jobs at once
    ///             job = queue.recv() => match job {
    ///                 Some(_job) => taken += 1,
    ///                 None => break,
    ///             },
    ///         }
    ///     }
    ///     Ok::<_, async_tasks::BoxError>(taken)
    /// });
    /// jobs.send(1).await.unwrap();
    /// tokio::task::yield_now().await;
    /// tasks.close();
    /// assert_eq!(dispatcher.await.unwrap(), 1);
    /// # }
    /// ```
    pub fn closing(&self) -> Closing<'_> {
        Closing::new(self)
    }

    /// [`closing`](Context::closing), as a future that owns the context: a `'static`
    /// signal to stop taking work, such as a server's graceful shutdown.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`closing`](Context::closing).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Tasks;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("http");
    /// // What `axum::serve(..).with_graceful_shutdown(..)` takes: a `'static` future.
    /// let stop = tasks.context().closing_owned();
    /// let server = tokio::spawn(stop);
    /// tasks.close();
    /// server.await.unwrap();
    /// # }
    /// ```
    pub fn closing_owned(self) -> ClosingOwned {
        ClosingOwned::new(self)
    }

    /// Runs `fut` until it completes or this context is done, whichever comes first; if the
    /// context ends first, `fut` is dropped where it stands.
    ///
    /// The context is checked first at every poll, so a context done already never polls
    /// `fut` at all. This is the `select!` every body writes by hand, as tokio-util's
    /// `CancellationToken::run_until_cancelled`.
    ///
    /// # Errors
    ///
    /// The context's error, if it is done before `fut` completes.
    ///
    /// # Cancel safety
    ///
    /// Dropping this future drops `fut`: it is exactly as cancel safe as `fut`. When the
    /// context ends, `fut` is dropped at its last `.await`, so whatever it was in the middle
    /// of is lost unless `fut` itself is cancel safe (a `recv` on a tokio channel is; a
    /// `read_exact` is not).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::Context;
    /// use async_tasks::context::ContextError;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let ctx = Context::background();
    /// assert_eq!(ctx.run_until_done(async { 7 }).await, Ok(7));
    ///
    /// let (short, _cancel) = ctx.with_timeout(Duration::from_secs(1));
    /// let slow = tokio::time::sleep(Duration::from_secs(60));
    /// assert_eq!(short.run_until_done(slow).await, Err(ContextError::DeadlineExceeded));
    /// # }
    /// ```
    pub async fn run_until_done<F: Future>(&self, fut: F) -> Result<F::Output, ContextError> {
        let Some(node) = &self.node else {
            return Ok(fut.await);
        };
        let mut fut = std::pin::pin!(fut);
        let mut done = std::pin::pin!(node.wait(false));
        std::future::poll_fn(|cx| {
            if let Some(err) = node.err() {
                return Poll::Ready(Err(err));
            }
            if let Poll::Ready(output) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            match done.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(node.err().unwrap_or(ContextError::Canceled))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Marks this context and all its children closing (its owner only: a set's `close`).
    pub(crate) fn close(&self) {
        if let Some(node) = &self.node {
            node.close();
        }
    }

    /// Resolves once this context is canceled (by a handle or a parent), ignoring deadlines.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it deregisters its waiter.
    pub(crate) async fn canceled(&self) {
        match &self.node {
            Some(node) => node.canceled().await,
            None => std::future::pending().await,
        }
    }

    /// Cancels this context (its owner only, e.g. `Tasks` for its shutdown context).
    pub(crate) fn cancel_because(&self, why: Why) {
        if let Some(node) = &self.node {
            node.cancel(why);
        }
    }

    /// Why this context is done, in more detail than [`err`](Context::err): the cause given
    /// to [`CancelHandle::cancel_with`] on it or on the parent whose cancellation reached
    /// it, or else the [`ContextError`] itself. `None` while the context is live. Go's
    /// `context.Cause`.
    ///
    /// Causes this crate gives: [`ShuttingDown`](crate::task::ShuttingDown) when a
    /// [`Tasks`](crate::task::Tasks) shuts down, and [`RunGroupFailed`](crate::runner::RunGroupFailed)
    /// when a member of a [`run_group`](crate::runner::run_group) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::Context;
    /// use async_tasks::context::ContextError;
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// assert!(ctx.cause().is_none());
    /// cancel.cancel();
    /// let cause = ctx.cause().unwrap();
    /// assert_eq!(cause.downcast_ref::<ContextError>(), Some(&ContextError::Canceled));
    /// ```
    #[must_use]
    pub fn cause(&self) -> Option<Cause> {
        let node = self.node.as_ref()?;
        let err = node.err()?;
        Some(node.cause().unwrap_or_else(|| Arc::new(err)))
    }
}

impl Context {
    /// How many context nodes this context keeps alive (0 for the background context): for
    /// `__private::probes` only.
    pub(crate) fn held_nodes(&self) -> usize {
        self.node.as_ref().map_or(0, Node::held)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Context");
        match &self.node {
            None => s.field("background", &true),
            Some(node) => s
                .field("err", &node.err())
                .field("deadline", &node.deadline()),
        };
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_is_never_done_and_allocates_nothing() {
        let ctx = Context::background();
        assert!(ctx.node.is_none());
        assert_eq!(ctx.err(), None);
        assert_eq!(format!("{ctx:?}"), "Context { background: true }");
    }

    #[test]
    fn join_with_background_reuses_the_other_node() {
        let (ctx, _cancel) = Context::background().with_cancel();
        let joined = Context::background().join(&ctx);
        assert!(Arc::ptr_eq(
            joined.node.as_ref().unwrap(),
            ctx.node.as_ref().unwrap()
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn join_is_done_when_either_side_is_and_takes_the_earlier_deadline() {
        let (a, cancel_a) = Context::background().with_timeout(Duration::from_secs(10));
        let (b, _cancel_b) = Context::background().with_timeout(Duration::from_secs(5));
        let joined = a.join(&b);
        assert_eq!(joined.deadline(), b.deadline());
        cancel_a.cancel();
        assert_eq!(joined.err(), Some(ContextError::Canceled));
        assert_eq!(b.err(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_is_noticed_without_anyone_waiting() {
        let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(1));
        let (child, _c) = ctx.with_cancel();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_reason_wins_even_when_noticed_late() {
        // The deadline passes unobserved, then someone cancels: the deadline came first.
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        cancel.cancel();
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));

        // Canceled first, then the deadline passes: stays Canceled.
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
        cancel.cancel();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    }

    #[tokio::test(start_paused = true)]
    async fn a_child_whose_own_deadline_passed_before_the_parent_was_canceled() {
        let (parent, cancel) = Context::background().with_cancel();
        let (child, _c) = parent.with_timeout(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        cancel.cancel();
        assert_eq!(parent.err(), Some(ContextError::Canceled));
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    }
}
