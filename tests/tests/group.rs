//! `run_group`: runners run together as one, stopped at the first error.
//!
//! Covers:
//! - an empty group is `Ok`; all succeeding is `Ok`, each run once and closed once;
//! - the runners run concurrently (one waits for another's signal; total time is the
//!   longest, not the sum);
//! - the first error cancels the others' context (not the caller's) and is the result,
//!   even when later runners fail with other errors; a `Canceled` error counts too;
//! - each runner is closed exactly once, right after its own run ends (paused time), also
//!   after a panic, even one raised by `run` before it returns a future; the group re-raises
//!   that panic only after everything is closed;
//! - closes get the caller's context, which the group's own cancellation does not reach
//!   (live, with the caller's deadline), and the caller's cancel when there is one;
//! - a close error does not change the result (`Ok` stays `Ok`, the first error stays);
//! - the group returns only after every runner has finished and been closed;
//! - a group run by `Tasks` is stopped by `shutdown`, with its members closed.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Closer, Context, Func, Runner, Tasks, run_group};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(24 * 3600);

/// One thing that happened, when (paused time since the test started), and the error of
/// the context it happened under.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    what: String,
    at: Duration,
    err: Option<ContextError>,
    deadline: Option<Instant>,
}

#[derive(Clone)]
struct Log {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Log {
    fn new() -> Log {
        Log {
            start: Instant::now(),
            events: Arc::default(),
        }
    }

    fn push(&self, what: String, ctx: &Context) {
        self.events.lock().unwrap().push(Event {
            what,
            at: self.start.elapsed(),
            err: ctx.err(),
            deadline: ctx.deadline(),
        });
    }

    /// `(what, seconds)` of every event, in order.
    fn timeline(&self) -> Vec<(String, u64)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .map(|e| (e.what.clone(), e.at.as_secs()))
            .collect()
    }

    fn only(&self, what: &str) -> Event {
        let events = self.events.lock().unwrap();
        let mut matching = events.iter().filter(|e| e.what == what);
        let event = matching
            .next()
            .unwrap_or_else(|| panic!("no {what:?} in {events:?}"));
        assert!(
            matching.next().is_none(),
            "{what:?} happened twice: {events:?}"
        );
        event.clone()
    }
}

type RunFn = Box<dyn Fn(Context) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A runner with a closer, logging "`name` ended" after its run and "`name` closed"
/// after a close that takes `close_takes` and fails if `close_fails`.
struct Member {
    name: &'static str,
    log: Log,
    run: RunFn,
    close_takes: Duration,
    close_fails: bool,
}

fn member<F, Fut>(name: &'static str, log: &Log, run: F) -> Member
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    Member {
        name,
        log: log.clone(),
        run: Box::new(move |ctx| run(ctx).boxed()),
        close_takes: Duration::ZERO,
        close_fails: false,
    }
}

impl Member {
    fn close_takes(mut self, d: Duration) -> Self {
        self.close_takes = d;
        self
    }

    fn close_fails(mut self) -> Self {
        self.close_fails = true;
        self
    }

    fn boxed(self) -> Box<dyn Runner> {
        Box::new(self)
    }
}

#[async_trait]
impl Runner for Member {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let result = (self.run)(ctx.clone()).await;
        self.log.push(format!("{} ended", self.name), &ctx);
        result
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for Member {
    async fn close(&self, ctx: Context) -> Result<(), BoxError> {
        tokio::time::sleep(self.close_takes).await;
        self.log.push(format!("{} closed", self.name), &ctx);
        if self.close_fails {
            return Err(format!("closing {} failed", self.name).into());
        }
        Ok(())
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn sleep_then(d: Duration, result: Result<(), BoxError>) -> Result<(), BoxError> {
    tokio::time::sleep(d).await;
    result
}

/// Waits for the context to end and returns its error.
async fn until_done(ctx: Context) -> Result<(), BoxError> {
    ctx.done().await;
    Err(ctx.err().unwrap().into())
}

async fn run_bounded(group: &impl Runner, ctx: &Context) -> Result<(), BoxError> {
    timeout(LIMIT, group.run(ctx.clone()))
        .await
        .expect("the group did not return")
}

#[tokio::test]
async fn an_empty_group_is_ok() {
    let group = run_group(Vec::new());
    assert!(run_bounded(&group, &Context::background()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn all_succeeding_each_runs_once_and_is_closed_right_after() {
    let log = Log::new();
    let group = run_group(vec![
        member("c", &log, |_| sleep_then(secs(3), Ok(()))).boxed(),
        member("a", &log, |_| sleep_then(secs(1), Ok(()))).boxed(),
        member("b", &log, |_| sleep_then(secs(2), Ok(()))).boxed(),
    ]);
    assert!(run_bounded(&group, &Context::background()).await.is_ok());
    assert_eq!(
        log.timeline(),
        [
            ("a ended".to_owned(), 1),
            ("a closed".to_owned(), 1),
            ("b ended".to_owned(), 2),
            ("b closed".to_owned(), 2),
            ("c ended".to_owned(), 3),
            ("c closed".to_owned(), 3),
        ]
    );
    assert_eq!(
        log.start.elapsed(),
        secs(3),
        "concurrent: the longest, not the sum"
    );
}

#[tokio::test(start_paused = true)]
async fn runners_run_concurrently() {
    // The first runner waits for a signal that only the second one sends.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Mutex::new(Some(rx));
    let tx = Mutex::new(Some(tx));
    let group = run_group(vec![
        Box::new(Func::new(move |_ctx| {
            let rx = rx.lock().unwrap().take();
            async move {
                rx.unwrap().await?;
                Ok(())
            }
        })),
        Box::new(Func::new(move |_ctx| {
            let tx = tx.lock().unwrap().take();
            async move {
                tokio::time::sleep(secs(1)).await;
                tx.unwrap().send(()).map_err(|()| "receiver gone")?;
                Ok(())
            }
        })),
    ]);
    let result = timeout(secs(60), group.run(Context::background()))
        .await
        .expect("runners were not run concurrently");
    assert!(result.is_ok());
}

#[tokio::test(start_paused = true)]
async fn the_first_error_cancels_the_others_and_is_the_result() {
    let log = Log::new();
    let (ctx, _c) = Context::background().with_timeout(secs(3600));
    let group = run_group(vec![
        member("waiter", &log, until_done).boxed(),
        member("fails", &log, |_| sleep_then(secs(1), Err("oh no".into()))).boxed(),
        // Ignores its context and fails later with another error.
        member("late", &log, |_| sleep_then(secs(2), Err("later".into()))).boxed(),
        Box::new(Func::new(until_done)),
    ]);
    let err = run_bounded(&group, &ctx).await.unwrap_err();
    assert_eq!(err.to_string(), "oh no");
    let waiter = log.only("waiter ended");
    assert_eq!(
        (waiter.at, waiter.err),
        (secs(1), Some(ContextError::Canceled))
    );
    assert_eq!(log.start.elapsed(), secs(2));
    assert!(
        !ctx.is_done(),
        "the group must cancel its own child context only"
    );
}

#[tokio::test(start_paused = true)]
async fn a_canceled_error_also_stops_the_group() {
    let log = Log::new();
    let group = run_group(vec![
        member("quits", &log, |_| {
            sleep_then(secs(1), Err(ContextError::Canceled.into()))
        })
        .boxed(),
        member("waiter", &log, until_done).boxed(),
    ]);
    let err = run_bounded(&group, &Context::background())
        .await
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<ContextError>(),
        Some(&ContextError::Canceled)
    );
    assert_eq!(log.only("waiter ended").at, secs(1));
}

#[tokio::test(start_paused = true)]
async fn closes_get_the_callers_ctx_which_the_groups_cancel_does_not_reach() {
    let log = Log::new();
    let (ctx, _c) = Context::background().with_timeout(secs(3600));
    let group = run_group(vec![
        member("fails", &log, |_| async { Err("oh no".into()) }).boxed(),
        member("waiter", &log, until_done).boxed(),
    ]);
    assert!(run_bounded(&group, &ctx).await.is_err());
    // The runner saw the group's cancel...
    assert_eq!(log.only("waiter ended").err, Some(ContextError::Canceled));
    // ...its close did not, and got the caller's deadline.
    for what in ["fails closed", "waiter closed"] {
        let close = log.only(what);
        assert_eq!(close.err, None, "{what} ran under a canceled context");
        assert_eq!(close.deadline, ctx.deadline());
    }
}

#[tokio::test(start_paused = true)]
async fn closes_see_the_callers_own_cancel() {
    let log = Log::new();
    let (ctx, cancel) = Context::background().with_cancel();
    let group = run_group(vec![member("waiter", &log, until_done).boxed()]);
    let running = tokio::spawn({
        let ctx = ctx.clone();
        async move { group.run(ctx).await }
    });
    tokio::time::sleep(secs(1)).await;
    cancel.cancel();
    let result = timeout(LIMIT, running).await.unwrap().unwrap();
    assert!(result.is_err());
    assert_eq!(log.only("waiter closed").err, Some(ContextError::Canceled));
}

#[tokio::test(start_paused = true)]
async fn a_close_error_does_not_change_the_result() {
    let log = Log::new();
    let group = run_group(vec![
        member("a", &log, |_| async { Ok(()) })
            .close_fails()
            .boxed(),
        member("b", &log, |_| sleep_then(secs(1), Ok(()))).boxed(),
    ]);
    assert!(run_bounded(&group, &Context::background()).await.is_ok());
    log.only("a closed");
    log.only("b closed");

    let log = Log::new();
    let group = run_group(vec![
        member("a", &log, |_| async { Err("oh no".into()) })
            .close_fails()
            .boxed(),
        member("b", &log, until_done).close_fails().boxed(),
    ]);
    let err = run_bounded(&group, &Context::background())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "oh no");
}

#[tokio::test(start_paused = true)]
async fn the_group_returns_only_after_every_runner_finished_and_was_closed() {
    let log = Log::new();
    let group = run_group(vec![
        member("fails", &log, |_| async { Err("oh no".into()) }).boxed(),
        // Ignores the cancel: runs 10s, then its close takes 3s more.
        member("slow", &log, |_| sleep_then(secs(10), Ok(())))
            .close_takes(secs(3))
            .boxed(),
    ]);
    let err = run_bounded(&group, &Context::background())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "oh no");
    assert_eq!(log.start.elapsed(), secs(13));
    assert_eq!(log.only("fails closed").at, Duration::ZERO);
    assert_eq!(log.only("slow ended").at, secs(10));
    assert_eq!(log.only("slow closed").at, secs(13));
}

#[tokio::test(start_paused = true)]
async fn a_panic_closes_its_runner_and_is_re_raised_after_everything_is_closed() {
    let log = Log::new();
    let group = run_group(vec![
        member("panics", &log, |_| async {
            tokio::time::sleep(secs(1)).await;
            panic!("member blew up");
        })
        .boxed(),
        member("waiter", &log, until_done)
            .close_takes(secs(2))
            .boxed(),
    ]);
    let outcome = timeout(
        LIMIT,
        std::panic::AssertUnwindSafe(group.run(Context::background())).catch_unwind(),
    )
    .await
    .expect("the group did not return");
    let payload = outcome.expect_err("the group must re-raise the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"member blew up"));
    // Raised only after the other runner finished and both were closed.
    assert_eq!(log.start.elapsed(), secs(3));
    assert_eq!(log.only("panics closed").at, secs(1));
    let waiter = log.only("waiter ended");
    assert_eq!(
        (waiter.at, waiter.err),
        (secs(1), Some(ContextError::Canceled))
    );
    assert_eq!(log.only("waiter closed").at, secs(3));
}

/// A runner whose `run` panics before it returns its future (an index out of bounds in a
/// closure's synchronous setup), with a closer that logs.
struct PanicsBeforeItsFuture {
    log: Log,
}

impl Runner for PanicsBeforeItsFuture {
    fn run<'a, 'b>(&'a self, _ctx: Context) -> BoxFuture<'b, Result<(), BoxError>>
    where
        'a: 'b,
        Self: 'b,
    {
        let empty: Vec<u8> = Vec::new();
        let _ = empty[std::hint::black_box(3)];
        async { Ok(()) }.boxed()
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for PanicsBeforeItsFuture {
    async fn close(&self, ctx: Context) -> Result<(), BoxError> {
        self.log.push("setup closed".into(), &ctx);
        Ok(())
    }
}

/// Regression (reliability round 2): a member whose `run` panicked before returning its
/// future unwound through the group, dropping the others mid-run, never canceled or closed.
#[tokio::test(start_paused = true)]
async fn a_panic_before_a_members_future_exists_still_stops_and_closes_everyone() {
    let log = Log::new();
    let group = run_group(vec![
        Box::new(PanicsBeforeItsFuture { log: log.clone() }),
        member("waiter", &log, until_done)
            .close_takes(secs(2))
            .boxed(),
    ]);
    let outcome = timeout(
        LIMIT,
        std::panic::AssertUnwindSafe(group.run(Context::background())).catch_unwind(),
    )
    .await
    .expect("the group did not return");
    let payload = outcome.expect_err("the group must re-raise the panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("index out of bounds"), "{message}");
    log.only("setup closed");
    let waiter = log.only("waiter ended");
    assert_eq!(
        waiter.err,
        Some(ContextError::Canceled),
        "the sibling was canceled"
    );
    assert_eq!(log.only("waiter closed").at, secs(2));
}

/// An error whose `source()` panics: judging it (is it a cancellation?) is the user's code.
#[derive(Debug)]
struct BadSource;

impl std::fmt::Display for BadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad source")
    }
}

impl std::error::Error for BadSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        panic!("source() blew up")
    }
}

/// Regression (found by the round-2 sweep): a member's error whose `source()` panicked while
/// the group judged it unwound through the group, and no member was closed.
#[tokio::test(start_paused = true)]
async fn an_error_whose_source_panics_still_stops_and_closes_everyone() {
    let log = Log::new();
    let ctx = Context::background();
    let group = run_group(vec![
        member("waiter", &log, until_done).boxed(),
        member("odd", &log, |_| sleep_then(secs(1), Err(BadSource.into()))).boxed(),
    ]);
    let err = run_bounded(&group, &ctx).await.unwrap_err();
    assert_eq!(err.to_string(), "bad source");
    assert_eq!(log.only("waiter ended").err, Some(ContextError::Canceled));
    log.only("waiter closed");
    log.only("odd closed");
}

#[tokio::test(start_paused = true)]
async fn a_group_run_by_tasks_is_stopped_by_shutdown() {
    let log = Log::new();
    let tasks = Tasks::new("group");
    tasks.run(
        &Context::background(),
        run_group(vec![
            member("a", &log, until_done).boxed(),
            member("b", &log, until_done).boxed(),
        ]),
    );
    tokio::time::sleep(secs(5)).await;
    assert_eq!(tasks.running(), 1);
    timeout(LIMIT, tasks.shutdown(secs(10)))
        .await
        .unwrap()
        .unwrap();
    for what in ["a ended", "b ended"] {
        assert_eq!(log.only(what).err, Some(ContextError::Canceled));
    }
    log.only("a closed");
    log.only("b closed");
}
