//! Bad input at runtime: every API given the edge values a caller can pass. Nothing panics
//! that is not documented to, nothing hangs, nothing is lost. (The calls a caller should not
//! make are in `reentrant_calls.rs`; failing closes and early drops in `closes_and_drops.rs`.)
//!
//! Covers:
//! - `Duration::ZERO` and `Duration::MAX` as timeouts, sleeps, and shutdown grace periods;
//! - instants in the past, now, far in the future, and the farthest instant that exists, as
//!   deadlines and `sleep_until` targets (no `Instant` overflow anywhere);
//! - empty, 1 MB long and odd (control characters, emoji) task and runner names: in spans
//!   and in shutdown reports, exactly.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::testing::SpanRecorder;
use async_tasks::{Context, Func, MutexWithContext, Tasks, sleep, sleep_until};
use futures_util::FutureExt;
use support::{YEAR, farthest, stubborn, wait_bounded};
use tokio::time::{Instant, advance, timeout};

// ---------------------------------------------------------------------------------------
// Zero and endless durations

#[tokio::test(start_paused = true)]
async fn zero_timeouts_are_done_at_once_and_zero_sleeps_do_not_wait() {
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert_eq!(ctx.deadline(), Some(start));
    assert!(ctx.done().now_or_never().is_some());

    // The lock is free, but the context is done: it fails, as Go's does.
    let mutex = MutexWithContext::new(());
    assert_eq!(
        mutex.lock(&ctx).now_or_never().map(|r| r.err()),
        Some(Some(ContextError::DeadlineExceeded))
    );

    let live = Context::background();
    assert_eq!(sleep(&live, Duration::ZERO).await, Ok(()));
    assert_eq!(
        sleep(&ctx, Duration::ZERO).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert_eq!(Instant::now(), start);

    // A loop under it runs zero times; a run runs once and sees the error.
    let tasks = Tasks::new("zero");
    let runs = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&runs);
    let runner = Func::new(move |ctx: Context| {
        seen.lock().unwrap().push(ctx.err());
        std::future::ready(Ok(()))
    });
    let runner = Arc::new(runner);
    tasks.run_loop(&ctx, Arc::clone(&runner));
    tasks.run(&ctx, runner);
    wait_bounded(&tasks).await;
    assert_eq!(
        *runs.lock().unwrap(),
        [Some(ContextError::DeadlineExceeded)]
    );
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn endless_timeouts_and_sleeps_never_panic_and_end_with_the_context() {
    let start = Instant::now();
    let (ctx, cancel) = Context::background().with_timeout(Duration::MAX);
    assert_eq!(ctx.deadline(), None);
    assert!(!ctx.is_done());
    let mutex = MutexWithContext::new(1);
    assert_eq!(*mutex.lock(&ctx).await.unwrap(), 1);

    // `sleep(MAX)` lasts as long as the context: canceled after a year here.
    let canceler = tokio::spawn(async move {
        tokio::time::sleep(YEAR).await;
        cancel.cancel();
    });
    assert_eq!(
        sleep(&ctx, Duration::MAX).await,
        Err(ContextError::Canceled)
    );
    assert_eq!(start.elapsed(), YEAR);
    canceler.await.unwrap();

    // Under a deadline, `sleep(MAX)` ends at the deadline.
    let (short, _c) = Context::background().with_timeout(Duration::from_secs(5));
    let at = Instant::now();
    assert_eq!(
        sleep(&short, Duration::MAX).await,
        Err(ContextError::DeadlineExceeded)
    );
    assert_eq!(at.elapsed(), Duration::from_secs(5));

    // Timeouts just short of the end of time give a deadline; past it, none of their own.
    let now = Instant::now();
    let end = farthest(now);
    let (last, _c) = Context::background().with_timeout(end);
    assert_eq!(last.deadline(), Some(now + end));
    let (child, _c) = last.with_timeout(end + Duration::from_secs(2));
    assert_eq!(child.deadline(), Some(now + end));
    assert!(!child.is_done());
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_zero_grace_reports_at_once_and_with_max_grace_waits() {
    let tasks = Tasks::new("grace");
    let start = Instant::now();
    assert_eq!(tasks.shutdown(Duration::ZERO).await, Ok(()));
    tasks.shutdown(Duration::MAX).await.unwrap();

    let tasks = Tasks::new("grace");
    tasks.run(
        &Context::background(),
        Func::named("stubborn", |_| std::future::pending()),
    );
    let err = tasks.shutdown(Duration::ZERO).await.unwrap_err();
    assert_eq!(err.names(), ["stubborn"]);
    assert_eq!(Instant::now(), start);

    // `Duration::MAX` waits for as long as it takes, without overflowing.
    let tasks = Tasks::new("grace");
    tasks.run(
        &Context::background(),
        Func::new(|ctx: Context| async move {
            ctx.done().await;
            tokio::time::sleep(YEAR).await; // a very slow cleanup
            Ok(())
        }),
    );
    timeout(2 * YEAR, tasks.shutdown(Duration::MAX))
        .await
        .expect("returns once the task ends")
        .unwrap();
    assert_eq!(start.elapsed(), YEAR);
}

// ---------------------------------------------------------------------------------------
// Instants

#[tokio::test(start_paused = true)]
async fn past_present_and_far_future_deadlines() {
    let now = Instant::now();
    let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
    for at in [past, now] {
        let (ctx, _c) = Context::background().with_deadline(at);
        assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(ctx.deadline(), Some(at));
        assert!(ctx.done().now_or_never().is_some());
    }

    for far in [now + 1000 * YEAR, now + farthest(now)] {
        let (ctx, cancel) = Context::background().with_deadline(far);
        assert_eq!(ctx.deadline(), Some(far));
        // Waiting on it registers a timer that far out: no panic, still pending a year on.
        let mut done = tokio_test::task::spawn(ctx.done());
        tokio_test::assert_pending!(done.poll());
        advance(YEAR).await;
        tokio_test::assert_pending!(done.poll());
        assert_eq!(ctx.err(), None);
        cancel.cancel();
        tokio_test::assert_ready!(done.poll());
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    }
}

#[tokio::test(start_paused = true)]
async fn sleep_until_past_present_and_far_future_instants() {
    let ctx = Context::background();
    let now = Instant::now();
    let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
    assert_eq!(sleep_until(&ctx, past).await, Ok(()));
    assert_eq!(sleep_until(&ctx, now).await, Ok(()));
    assert_eq!(Instant::now(), now);

    for far in [now + 1000 * YEAR, now + farthest(now)] {
        let at = Instant::now();
        let (short, _c) = ctx.with_timeout(Duration::from_secs(5));
        assert_eq!(
            sleep_until(&short, far).await,
            Err(ContextError::DeadlineExceeded)
        );
        assert_eq!(at.elapsed(), Duration::from_secs(5));

        let (cancelable, cancel) = ctx.with_cancel();
        let mut sleeping = tokio_test::task::spawn(sleep_until(&cancelable, far));
        tokio_test::assert_pending!(sleeping.poll());
        advance(YEAR).await;
        tokio_test::assert_pending!(sleeping.poll());
        cancel.cancel();
        assert_eq!(
            tokio_test::assert_ready!(sleeping.poll()),
            Err(ContextError::Canceled)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Names

/// Runs one quick task (to record its span) and one stubborn task on a `Tasks` named
/// `name`, shuts down, and returns the `task.name` of the span and the shutdown error.
async fn names_through(
    name: &str,
    runner_name: Option<&'static str>,
) -> (String, String, Vec<String>) {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new(name);
    assert_eq!(tasks.name(), name);
    tasks.run(&Context::background(), Func::new(|_| async { Ok(()) }));
    wait_bounded(&tasks).await;
    match runner_name {
        Some(runner_name) => tasks.run(
            &Context::background(),
            Func::named(runner_name, |_| std::future::pending()),
        ),
        None => tasks.run(&Context::background(), stubborn()),
    }
    let err = tasks.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.tasks_name(), name);
    let span = recorder.spans_named("task").remove(0);
    assert_eq!(span.field("otel.name"), Some(name));
    (
        span.field("task.name").expect("task.name").to_owned(),
        err.to_string(),
        err.names().to_vec(),
    )
}

#[tokio::test(start_paused = true)]
async fn empty_names_are_kept_as_they_are() {
    let (span_name, report, names) = names_through("", None).await;
    assert_eq!(span_name, "");
    assert_eq!(names, [""]);
    assert_eq!(
        report,
        "shutdown of tasks `` timed out with 1 task still running: "
    );

    let (_, _, names) = names_through("svc", Some("")).await;
    assert_eq!(names, [""]);
}

#[tokio::test(start_paused = true)]
async fn megabyte_and_odd_names_are_kept_exactly() {
    let long = "x".repeat(1 << 20);
    let (span_name, report, names) = names_through(&long, None).await;
    assert_eq!(span_name.len(), 1 << 20);
    assert_eq!(span_name, long);
    assert_eq!(names, std::slice::from_ref(&long));
    assert!(report.ends_with(&format!("still running: {long}")));

    let long_runner: &'static str = Box::leak("y".repeat(1 << 20).into_boxed_str());
    let (_, _, names) = names_through("svc", Some(long_runner)).await;
    assert_eq!(names, [long_runner]);

    let odd = "\0\n\t`\u{1F980} ünïcödé \"quoted\"";
    let (span_name, _, names) = names_through(odd, Some("\u{1F980}\n")).await;
    assert_eq!(span_name, odd);
    assert_eq!(names, ["\u{1F980}\n"]);
}
