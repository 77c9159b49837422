//! Cancel with a cause: `CancelHandle::cancel_with`, `Context::cause`, the causes the crate
//! gives itself (`ShuttingDown`, `RunGroupFailed`), and that a cause is inherited the way
//! the reason is (first wins, children born late inherit it, a passed deadline comes first).

use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::runner::RunGroupFailed;
use async_tasks::task::ShuttingDown;
use async_tasks::{BoxError, Context, Func, Runner, Tasks, run_group};
use tokio::sync::oneshot;

#[derive(Debug, PartialEq)]
struct ClientWentAway;

impl std::fmt::Display for ClientWentAway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("client went away")
    }
}

impl std::error::Error for ClientWentAway {}

#[test]
fn a_cause_reaches_every_descendant_and_the_first_one_stays() {
    let (request, abort) = Context::background().with_cancel();
    let (call, _c1) = request.with_cancel();
    let (inner, _c2) = call.with_timeout(Duration::from_secs(60));
    assert!(inner.cause().is_none(), "live contexts have no cause");

    abort.cancel_with(ClientWentAway);
    abort.cancel_with("a second cause");
    for ctx in [&request, &call, &inner] {
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
        let cause = ctx.cause().expect("done contexts have a cause");
        assert_eq!(
            cause.downcast_ref::<ClientWentAway>(),
            Some(&ClientWentAway)
        );
    }
    // Born after the cancel: inherits it too.
    let (late, _c3) = call.with_cancel();
    assert!(late.cause().unwrap().is::<ClientWentAway>());
}

#[test]
fn without_a_cause_the_cause_is_the_context_error() {
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    cancel.cancel_with(ClientWentAway); // too late: the first cancel had no cause
    let cause = ctx.cause().unwrap();
    assert_eq!(
        cause.downcast_ref::<ContextError>(),
        Some(&ContextError::Canceled)
    );
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_comes_before_a_later_cause() {
    let (parent, cancel) = Context::background().with_cancel();
    let (child, _c) = parent.with_timeout(Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(2)).await;
    cancel.cancel_with(ClientWentAway);
    assert!(parent.cause().unwrap().is::<ClientWentAway>());
    let cause = child.cause().unwrap();
    assert_eq!(
        cause.downcast_ref::<ContextError>(),
        Some(&ContextError::DeadlineExceeded)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_sees_the_context_done_sees_its_cause() {
    for _ in 0..200 {
        let (ctx, cancel) = Context::background().with_cancel();
        let waiter = tokio::spawn(async move {
            ctx.done().await;
            ctx.cause().unwrap().is::<ClientWentAway>()
        });
        let canceler = std::thread::spawn(move || cancel.cancel_with(ClientWentAway));
        assert!(waiter.await.unwrap());
        canceler.join().unwrap();
    }
}

#[tokio::test]
async fn a_task_tells_shutdown_from_its_caller_giving_up() {
    let tasks = Tasks::new("svc");
    let (request, abort) = Context::background().with_cancel();
    let (by_request, request_seen) = oneshot::channel();
    let (by_shutdown, shutdown_seen) = oneshot::channel();
    tasks.run(&request, report_cause(by_request));
    tasks.run(&Context::background(), report_cause(by_shutdown));

    abort.cancel_with(ClientWentAway);
    assert_eq!(request_seen.await.unwrap(), "client went away");
    tasks.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        shutdown_seen.await.unwrap(),
        "tasks `svc` are shutting down"
    );
}

/// A runner that waits for its context and sends back the cause's text (and checks that a
/// shutdown's cause is a `ShuttingDown` naming its tasks).
fn report_cause(tx: oneshot::Sender<String>) -> impl Runner {
    // A `Func` is `Fn`: the sender is taken out by the one run.
    let tx = std::sync::Mutex::new(Some(tx));
    Func::new(move |ctx| {
        let tx = tx.lock().unwrap().take();
        async move {
            ctx.done().await;
            let cause = ctx.cause().expect("a done context has a cause");
            if let Some(shutdown) = cause.downcast_ref::<ShuttingDown>() {
                assert_eq!(shutdown.tasks_name(), "svc");
            }
            if let Some(tx) = tx {
                let _ = tx.send(cause.to_string());
            }
            Ok(())
        }
    })
}

#[tokio::test]
async fn run_group_cancels_the_siblings_with_the_failing_error_and_returns_it_as_it_was() {
    let (tx, seen) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let group = run_group(vec![
        Box::new(Func::new(|_ctx| async {
            Err::<(), BoxError>(Box::new(ClientWentAway))
        })),
        Box::new(Func::new(move |ctx| {
            let tx = tx.lock().unwrap().take();
            async move {
                ctx.done().await;
                let cause = ctx.cause().unwrap();
                let failed = cause.downcast_ref::<RunGroupFailed>().unwrap();
                let source = std::error::Error::source(failed).unwrap();
                if let Some(tx) = tx {
                    let _ = tx.send((
                        cause.to_string(),
                        source.downcast_ref::<ClientWentAway>().is_some(),
                    ));
                }
                Ok(())
            }
        })),
    ]);
    let err = group.run(Context::background()).await.unwrap_err();
    // The group's result is the failing runner's own error, not a wrapper.
    assert_eq!(err.downcast_ref::<ClientWentAway>(), Some(&ClientWentAway));
    let (text, source_is_the_error) = seen.await.unwrap();
    assert_eq!(text, "a runner of the group failed: client went away");
    assert!(source_is_the_error);
}
