//! `Tasks::run_background`: Go's `RunBackground`, detached from the caller's context.
//!
//! Covers:
//! - the runner's context has no deadline, even when the caller's has one, and outlives it;
//! - canceling the caller's context does not reach it, nor does an already-done caller's
//!   context (the runner starts live);
//! - it is canceled only by this set's `shutdown`, never by another set's;
//! - it counts in `running()` from the call, is waited for by `wait()`, and a panic in it
//!   is caught.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{Context, Func, Runner, Tasks};
use tokio::sync::oneshot;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(24 * 3600);

/// What the background runner saw: its deadline and its error when first polled, then
/// its error once its context ended.
type Seen = Arc<Mutex<Vec<(Option<tokio::time::Instant>, Option<ContextError>)>>>;

/// A runner that records its context at the start, waits for `go`, records it again,
/// then waits for its context to end and records it a last time.
fn observer(seen: &Seen, go: oneshot::Receiver<()>) -> impl Runner + use<> {
    let seen = Arc::clone(seen);
    let go = Mutex::new(Some(go));
    Func::new(move |ctx: Context| {
        let seen = Arc::clone(&seen);
        let go = go.lock().unwrap().take().expect("runs once");
        async move {
            seen.lock().unwrap().push((ctx.deadline(), ctx.err()));
            let _ = go.await;
            seen.lock().unwrap().push((ctx.deadline(), ctx.err()));
            ctx.done().await;
            seen.lock().unwrap().push((ctx.deadline(), ctx.err()));
            Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_callers_deadline_and_cancel_do_not_reach_a_background_task() {
    let tasks = Tasks::new("bg");
    let seen: Seen = Arc::default();
    let (go_tx, go_rx) = oneshot::channel();
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
    tasks.run_background(&ctx, observer(&seen, go_rx));
    assert_eq!(tasks.running(), 1);

    // The caller's deadline passes and it is canceled too.
    tokio::time::sleep(Duration::from_secs(10)).await;
    cancel.cancel();
    assert!(ctx.is_done());
    go_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        tasks.running(),
        1,
        "the background task must still be waiting"
    );

    timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (None, None),
            (None, None),
            (None, Some(ContextError::Canceled))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_already_done_callers_ctx_does_not_reach_a_background_task() {
    let tasks = Tasks::new("bg");
    let seen: Seen = Arc::default();
    let (go_tx, go_rx) = oneshot::channel();
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    tasks.run_background(&ctx, observer(&seen, go_rx));
    go_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*seen.lock().unwrap(), [(None, None), (None, None)]);
    tasks.shutdown(Duration::from_secs(1)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn only_its_own_sets_shutdown_cancels_a_background_task() {
    let mine = Tasks::new("mine");
    let other = Tasks::new("other");
    let seen: Seen = Arc::default();
    let (go_tx, go_rx) = oneshot::channel();
    mine.run_background(&Context::background(), observer(&seen, go_rx));
    other.run_background(
        &Context::background(),
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            Ok(())
        }),
    );
    go_tx.send(()).unwrap();

    other.shutdown(Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(mine.running(), 1);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "woken by another set's shutdown"
    );

    mine.shutdown(Duration::from_secs(1)).await.unwrap();
    assert_eq!(mine.running(), 0);
    assert_eq!(
        seen.lock().unwrap().last(),
        Some(&(None, Some(ContextError::Canceled)))
    );
}

#[tokio::test]
async fn a_background_task_counts_is_waited_for_and_its_panic_is_caught() {
    let tasks = Tasks::new("bg");
    let ran = Arc::new(AtomicBool::new(false));
    tasks.run_background(&Context::background(), {
        let ran = Arc::clone(&ran);
        Func::new(move |_ctx| {
            ran.store(true, Ordering::SeqCst);
            async { Ok(()) }
        })
    });
    tasks.run_background(
        &Context::background(),
        Func::new(|_ctx| async { panic!("background task blew up") }),
    );
    assert_eq!(tasks.running(), 2);
    assert!(!ran.load(Ordering::SeqCst), "not polled yet");
    timeout(Duration::from_secs(10), tasks.wait())
        .await
        .expect("wait did not return");
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(tasks.running(), 0);
}
