//! `Context::run_until_done`, `CancelHandle::drop_guard` and `CancelGuard`.
//!
//! Covers:
//! - `run_until_done` gives the future's output while the context is live (also on the
//!   background context, and for a future that needs several polls);
//! - a done context never polls the future (canceled; deadline passed unnoticed) and
//!   returns its error; the future is dropped, not leaked;
//! - a context that ends first (a cancel, a deadline on the paused clock, a set's shutdown)
//!   returns its error at once and drops the future where it stands;
//! - the context is checked before the future at every poll;
//! - `drop_guard` cancels on drop: at the end of a scope, on an early return, while
//!   unwinding from a panic; `disarm` gives back a handle that has not canceled and still
//!   can; `Debug` says whether it is armed.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use async_tasks::context::{CancelHandle, ContextError};
use async_tasks::{Context, Func, Tasks};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};

use support::{DropFlag, LIMIT, recv_n};

/// A future that fails the test if it is ever polled.
struct NeverPoll(#[allow(dead_code)] DropFlag);

impl Future for NeverPoll {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> Poll<u32> {
        panic!("a done context polled the future");
    }
}

#[tokio::test(start_paused = true)]
async fn the_output_comes_back_while_the_context_is_live() {
    assert_eq!(
        Context::background().run_until_done(async { 7 }).await,
        Ok(7)
    );
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(10));
    let start = Instant::now();
    let out = ctx
        .run_until_done(async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            tokio::task::yield_now().await;
            "slept"
        })
        .await;
    assert_eq!(out, Ok("slept"));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(!ctx.is_done());
}

#[tokio::test(start_paused = true)]
async fn a_done_context_never_polls_the_future_and_drops_it() {
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (flag, dropped) = DropFlag::new();
    assert_eq!(
        ctx.run_until_done(NeverPoll(flag)).await,
        Err(ContextError::Canceled)
    );
    assert!(dropped.load(Ordering::SeqCst));

    // A deadline that passed with nobody looking counts too.
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(2)).await;
    let (flag, dropped) = DropFlag::new();
    assert_eq!(
        ctx.run_until_done(NeverPoll(flag)).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_context_that_ends_first_drops_the_future_where_it_stands() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (flag, dropped) = DropFlag::new();
    let mut run = task::spawn(ctx.run_until_done(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    }));
    assert_pending!(run.poll());
    assert!(!dropped.load(Ordering::SeqCst));
    cancel.cancel();
    assert!(run.is_woken());
    assert_eq!(assert_ready!(run.poll()), Err(ContextError::Canceled));
    assert!(dropped.load(Ordering::SeqCst), "dropped when it returned");

    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(5));
    let start = Instant::now();
    let out = timeout(
        LIMIT,
        ctx.run_until_done(tokio::time::sleep(Duration::from_secs(60))),
    )
    .await
    .unwrap();
    assert_eq!(out, Err(ContextError::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_context_is_checked_before_the_future_at_every_poll() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let mut run = task::spawn(ctx.run_until_done(async move { rx.recv().await }));
    assert_pending!(run.poll());
    // Both are ready at the next poll: the context wins, and the message stays unread only
    // as far as the future is concerned (it is dropped).
    tx.send(1).unwrap();
    cancel.cancel();
    assert_eq!(assert_ready!(run.poll()), Err(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn a_task_body_ends_with_its_sets_shutdown() {
    let tasks = Tasks::new("svc");
    let (tx, mut rx) = mpsc::unbounded_channel();
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let tx = tx.clone();
            async move {
                let out = ctx
                    .run_until_done(tokio::time::sleep(Duration::from_secs(3600)))
                    .await;
                tx.send(out).unwrap();
                Ok(())
            }
        }),
    );
    tokio::task::yield_now().await;
    let start = Instant::now();
    timeout(LIMIT, tasks.shutdown(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(recv_n(&mut rx, 1).await, [Err(ContextError::Canceled)]);
}

#[test]
fn a_guard_cancels_when_its_scope_ends_and_not_before() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (child, _c) = ctx.with_cancel();
    {
        let guard = cancel.drop_guard();
        assert!(!ctx.is_done());
        assert!(format!("{guard:?}").contains("armed: true"), "{guard:?}");
    }
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    assert_eq!(child.err(), Some(ContextError::Canceled));
}

#[test]
fn a_guard_cancels_on_an_early_return_and_while_unwinding() {
    /// Starts helpers on a context of their own, which it hands out through `helpers`; keeps
    /// them only if it gets to the end.
    fn start(
        ctx: &Context,
        fail: bool,
        helpers: &mut Option<Context>,
    ) -> Result<CancelHandle, &'static str> {
        let (ctx, cancel) = ctx.with_cancel();
        *helpers = Some(ctx);
        let guard = cancel.drop_guard();
        if fail {
            return Err("early");
        }
        Ok(guard.disarm())
    }
    let root = Context::background();
    let mut helpers = None;
    assert!(start(&root, true, &mut helpers).is_err());
    assert_eq!(helpers.unwrap().err(), Some(ContextError::Canceled));
    let mut helpers = None;
    let kept = start(&root, false, &mut helpers).unwrap();
    let helpers = helpers.unwrap();
    assert!(!helpers.is_done());
    kept.cancel();
    assert!(helpers.is_done());

    let (ctx, cancel) = Context::background().with_cancel();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = cancel.drop_guard();
        panic!("boom");
    }));
    assert!(result.is_err());
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
}

#[test]
fn a_disarmed_guard_gives_back_a_handle_that_has_not_canceled_and_still_can() {
    let (ctx, cancel) = Context::background().with_cancel();
    let guard = cancel.drop_guard();
    let handle = guard.disarm();
    assert!(!ctx.is_done(), "disarm does not cancel");
    handle.cancel_with("done by hand");
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
    assert_eq!(ctx.cause().unwrap().to_string(), "done by hand");
}
