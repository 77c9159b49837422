//! Bad input at runtime: every API given the edge values a caller can pass, and the calls a
//! caller should not make. Nothing panics that is not documented to, nothing hangs, nothing
//! is lost.
//!
//! Covers:
//! - `Duration::ZERO` and `Duration::MAX` as timeouts, sleeps, and shutdown grace periods;
//! - instants in the past, now, far in the future, and the farthest instant that exists, as
//!   deadlines and `sleep_until` targets (no `Instant` overflow anywhere);
//! - empty, 1 MB long and odd (control characters, emoji) task and runner names: in spans
//!   and in shutdown reports, exactly;
//! - `run` (and `run_loop`, `run_background`) from inside a runner, 100 levels deep: `wait`
//!   waits for the innermost;
//! - `wait` and `shutdown` from inside a task of the same `Tasks`: the task panics with a
//!   message that says why, reported as one panic event; nothing hangs; `shutdown` has
//!   cancelled the others first;
//! - `shutdown` called twice, and concurrently (also from two threads): all return, with the
//!   same outcome;
//! - a `Closer::close` that errs or panics inside `run_group`: reported once, the group's
//!   result unchanged, the other runners still closed;
//! - handles and futures dropped early: dropping every `Tasks` handle neither cancels nor
//!   detaches its tasks; a dropped `done()` or `run_close` future loses nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::testing::SpanRecorder;
use async_tasks::{
    BoxError, Closer, Context, ContextError, Func, MutexWithContext, Runner, Tasks, async_trait,
    run_group, sleep, sleep_until,
};
use futures_util::FutureExt;
use tokio::time::{Instant, advance, timeout};

const LIMIT: Duration = Duration::from_secs(24 * 3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// The largest `d` for which `now + d` is an instant: the end of time, as far as `Instant`
/// goes.
fn farthest(now: Instant) -> Duration {
    let (mut ok, mut too_far) = (Duration::ZERO, Duration::MAX);
    while too_far - ok > Duration::from_secs(1) {
        let mid = ok + (too_far - ok) / 2;
        match now.checked_add(mid) {
            Some(_) => ok = mid,
            None => too_far = mid,
        }
    }
    ok
}

/// A runner that ignores its context and never ends.
fn stubborn() -> Func<impl Fn(Context) -> std::future::Pending<Result<(), BoxError>> + Clone> {
    Func::new(|_| std::future::pending())
}

/// A runner that ends as soon as its context is done.
fn well_behaved() -> impl Runner + Clone {
    Func::new(|ctx: Context| async move {
        ctx.done().await;
        Ok(())
    })
}

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

    // `sleep(MAX)` lasts as long as the context: cancelled after a year here.
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(YEAR).await;
        cancel.cancel();
    });
    assert_eq!(
        sleep(&ctx, Duration::MAX).await,
        Err(ContextError::Canceled)
    );
    assert_eq!(start.elapsed(), YEAR);
    canceller.await.unwrap();

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

        let (cancellable, cancel) = ctx.with_cancel();
        let mut sleeping = tokio_test::task::spawn(sleep_until(&cancellable, far));
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

// ---------------------------------------------------------------------------------------
// Runs from runs

/// Level `level` sleeps a second, then starts level `level + 1` (as a run, a one-iteration
/// loop or a background task, in turn) and ends. The last level starts nothing.
fn nested(
    tasks: &Tasks,
    level: usize,
    depth: usize,
    reached: &Arc<AtomicUsize>,
) -> impl Runner + use<> {
    let (tasks, reached) = (tasks.clone(), Arc::clone(reached));
    let iterated = Arc::new(AtomicUsize::new(0));
    Func::new(move |ctx: Context| {
        let (tasks, reached) = (tasks.clone(), Arc::clone(&reached));
        let first = iterated.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if !first {
                // A loop's second iteration: end the loop.
                return Err("loop done".into());
            }
            sleep(&ctx, Duration::from_secs(1)).await?;
            reached.fetch_max(level, Ordering::SeqCst);
            if level < depth {
                let next = nested(&tasks, level + 1, depth, &reached);
                match level % 3 {
                    0 => tasks.run(&ctx, next),
                    1 => tasks.run_loop(&ctx, next),
                    _ => tasks.run_background(&ctx, next),
                }
            }
            Ok::<(), BoxError>(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn runs_started_by_runs_a_hundred_deep_are_all_waited_for() {
    const DEPTH: usize = 100;
    let tasks = Tasks::new("nested");
    let reached = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    tasks.run(&Context::background(), nested(&tasks, 1, DEPTH, &reached));

    // Halfway: one level is running (each ends once it has started the next).
    tokio::time::sleep(Duration::from_millis(50_500)).await;
    assert_eq!(reached.load(Ordering::SeqCst), 50);
    assert_eq!(tasks.running(), 1);

    wait_bounded(&tasks).await;
    assert_eq!(reached.load(Ordering::SeqCst), DEPTH);
    assert_eq!(start.elapsed(), Duration::from_secs(DEPTH as u64));
    assert_eq!(tasks.running(), 0);
}

// ---------------------------------------------------------------------------------------
// Waiting on itself

const SELF_WAIT: &str =
    "`Tasks::wait` was called from inside a task of the same `Tasks` (`self-waiter`)";

/// The `panic` fields of the ERROR events recorded so far.
fn panics(recorder: &SpanRecorder) -> Vec<String> {
    recorder
        .events()
        .iter()
        .filter_map(|event| event.field("panic").map(str::to_owned))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn wait_from_inside_its_own_task_is_reported_as_a_panic_for_every_kind_of_run() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("self-waiter");
    let calls = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (tasks, calls) = (tasks.clone(), Arc::clone(&calls));
        Arc::new(Func::new(move |_| {
            let tasks = tasks.clone();
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                tasks.wait().await;
                Ok(())
            }
        }))
    };
    tasks.run(&Context::background(), Arc::clone(&waiter));
    tasks.run_loop(&Context::background(), Arc::clone(&waiter));
    tasks.run_background(&Context::background(), Arc::clone(&waiter));
    // A timeout on the paused clock: a hang would show as this expiring.
    timeout(LIMIT, tasks.wait())
        .await
        .expect("the self-waiters do not hang");

    // One call each: the loop stopped at its panic.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let panics = panics(&recorder);
    assert_eq!(panics.len(), 3, "{panics:?}");
    for panic in &panics {
        assert!(panic.contains(SELF_WAIT), "{panic}");
        assert!(
            panic.contains("second `Tasks`"),
            "the message says what to do: {panic}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn wait_from_inside_a_group_member_of_its_own_task_is_reported_too() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("self-waiter");
    let inner = tasks.clone();
    tasks.run(
        &Context::background(),
        run_group(vec![
            Box::new(Func::new(move |_| {
                let inner = inner.clone();
                async move {
                    inner.wait().await;
                    Ok(())
                }
            })),
            Box::new(well_behaved()),
        ]),
    );
    timeout(LIMIT, tasks.wait()).await.expect("no hang");
    let panics = panics(&recorder);
    assert_eq!(panics.len(), 1, "{panics:?}");
    assert!(panics[0].contains(SELF_WAIT), "{}", panics[0]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_from_inside_its_own_task_cancels_the_others_then_is_reported() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("self-waiter");
    let sibling_saw = Arc::new(Mutex::new(None));
    let saw = Arc::clone(&sibling_saw);
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let saw = Arc::clone(&saw);
            async move {
                ctx.done().await;
                *saw.lock().unwrap() = ctx.err();
                Ok(())
            }
        }),
    );
    let inner = tasks.clone();
    tasks.run(
        &Context::background(),
        Func::new(move |_| {
            let inner = inner.clone();
            async move {
                inner.shutdown(Duration::from_secs(1)).await?;
                Ok(())
            }
        }),
    );
    timeout(LIMIT, tasks.wait()).await.expect("no hang");
    assert_eq!(*sibling_saw.lock().unwrap(), Some(ContextError::Canceled));
    let panics = panics(&recorder);
    assert_eq!(panics.len(), 1, "{panics:?}");
    assert!(panics[0].contains(SELF_WAIT), "{}", panics[0]);
}

#[tokio::test(start_paused = true)]
async fn wait_from_a_task_of_another_set_is_fine() {
    let outer = Tasks::new("outer");
    let inner = Tasks::new("inner");
    inner.run(
        &Context::background(),
        Func::new(|ctx: Context| async move {
            sleep(&ctx, Duration::from_secs(5)).await?;
            Ok(())
        }),
    );
    let waited = Arc::new(Mutex::new(None));
    let (other, at) = (inner.clone(), Arc::clone(&waited));
    let start = Instant::now();
    outer.run(
        &Context::background(),
        Func::new(move |_| {
            let (other, at) = (other.clone(), Arc::clone(&at));
            async move {
                other.wait().await;
                *at.lock().unwrap() = Some(start.elapsed());
                Ok(())
            }
        }),
    );
    wait_bounded(&outer).await;
    assert_eq!(*waited.lock().unwrap(), Some(Duration::from_secs(5)));
}

// ---------------------------------------------------------------------------------------
// Shutdown twice

#[tokio::test(start_paused = true)]
async fn shutdown_twice_and_concurrently_returns_the_same_outcome_each_time() {
    // Everything stops: Ok, Ok, and Ok again afterwards.
    let tasks = Tasks::new("svc");
    for _ in 0..100 {
        tasks.run(&Context::background(), well_behaved());
        tasks.run_loop(&Context::background(), well_behaved());
    }
    let grace = Duration::from_secs(5);
    let (a, b) = tokio::join!(tasks.shutdown(grace), tasks.shutdown(grace));
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert_eq!(tasks.shutdown(grace).await, Ok(()));

    // A straggler: both time out together, with the same report, and so does a third.
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::named("stuck", |_| std::future::pending()),
    );
    tasks.run(&Context::background(), well_behaved());
    let start = Instant::now();
    let (a, b) = tokio::join!(tasks.shutdown(grace), tasks.shutdown(grace));
    assert_eq!(start.elapsed(), grace);
    let a = a.unwrap_err();
    assert_eq!(Err(a.clone()), b);
    assert_eq!(a.names(), ["stuck"]);
    assert_eq!(tasks.shutdown(grace).await, Err(a));
    assert_eq!(start.elapsed(), 2 * grace);
}

#[test]
fn shutdown_from_two_threads_at_once_both_return_ok() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks = Tasks::new("svc");
        for _ in 0..1_000 {
            tasks.run(&Context::background(), well_behaved());
        }
        let shutdowns: Vec<_> = (0..2)
            .map(|_| {
                let tasks = tasks.clone();
                tokio::spawn(async move { tasks.shutdown(Duration::from_secs(10)).await })
            })
            .collect();
        for shutdown in shutdowns {
            assert_eq!(shutdown.await.unwrap(), Ok(()));
        }
        assert_eq!(tasks.running(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// Closers that fail

/// How a member's close behaves.
#[derive(Clone, Copy)]
enum Close {
    Ok,
    Err,
    Panic,
}

struct Member {
    name: &'static str,
    fails: bool,
    close: Option<Close>,
    closed: Arc<Mutex<Vec<&'static str>>>,
}

#[async_trait]
impl Runner for Member {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        if self.fails {
            return Err(format!("{} failed", self.name).into());
        }
        sleep(&ctx, Duration::from_secs(1)).await?;
        Ok(())
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        self.close.map(|_| self as &dyn Closer)
    }
}

#[async_trait]
impl Closer for Member {
    async fn close(&self, _ctx: Context) -> Result<(), BoxError> {
        self.closed.lock().unwrap().push(self.name);
        match self.close {
            Some(Close::Err) => Err(format!("{} close failed", self.name).into()),
            Some(Close::Panic) => panic!("{} close panicked", self.name),
            _ => Ok(()),
        }
    }
}

fn members(
    closed: &Arc<Mutex<Vec<&'static str>>>,
    spec: &[(&'static str, bool, Option<Close>)],
) -> Vec<Box<dyn Runner>> {
    spec.iter()
        .map(|&(name, fails, close)| {
            Box::new(Member {
                name,
                fails,
                close,
                closed: Arc::clone(closed),
            }) as Box<dyn Runner>
        })
        .collect()
}

/// The ERROR events' `error` and `panic` fields, sorted.
fn reported(recorder: &SpanRecorder) -> Vec<String> {
    let mut reported: Vec<String> = recorder
        .events()
        .iter()
        .flat_map(|event| {
            [
                ("error", event.field("error")),
                ("panic", event.field("panic")),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| format!("{key}: {value}")))
        })
        .collect();
    reported.sort();
    reported
}

#[tokio::test(start_paused = true)]
async fn a_close_that_errs_or_panics_is_reported_and_changes_nothing_else() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let group = run_group(members(
        &closed,
        &[
            ("a", false, Some(Close::Err)),
            ("b", false, Some(Close::Panic)),
            ("c", false, Some(Close::Ok)),
            ("d", false, None),
        ],
    ));
    let result = timeout(LIMIT, group.run(Context::background()))
        .await
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    let mut closed_now = closed.lock().unwrap().clone();
    closed_now.sort();
    assert_eq!(closed_now, ["a", "b", "c"]);
    assert_eq!(
        reported(&recorder),
        ["error: a close failed", "panic: b close panicked"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_stays_the_result_when_closes_also_fail() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let group = run_group(members(
        &closed,
        &[
            ("a", true, Some(Close::Panic)),
            ("b", false, Some(Close::Err)),
            ("c", false, Some(Close::Ok)),
        ],
    ));
    let err = timeout(LIMIT, group.run(Context::background()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.to_string(), "a failed");
    let mut closed_now = closed.lock().unwrap().clone();
    closed_now.sort();
    assert_eq!(closed_now, ["a", "b", "c"]);
    assert_eq!(
        reported(&recorder),
        ["error: b close failed", "panic: a close panicked"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_with_failing_closes_under_tasks_is_reported_once_each() {
    let recorder = SpanRecorder::install();
    let closed = Arc::default();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        run_group(members(
            &closed,
            &[
                ("a", false, Some(Close::Panic)),
                ("b", false, Some(Close::Err)),
            ],
        )),
    );
    wait_bounded(&tasks).await;
    assert_eq!(closed.lock().unwrap().len(), 2);
    // The group itself ended `Ok`: the task reports nothing more.
    assert_eq!(
        reported(&recorder),
        ["error: b close failed", "panic: a close panicked"]
    );
}

// ---------------------------------------------------------------------------------------
// Handles and futures dropped early

#[tokio::test(start_paused = true)]
async fn dropping_every_tasks_handle_neither_cancels_nor_detaches_its_tasks() {
    let tasks = Tasks::new("dropped");
    let other = tasks.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let tx = Arc::clone(&tx);
            async move {
                let slept = sleep(&ctx, Duration::from_secs(5)).await;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(slept);
                }
                Ok(())
            }
        }),
    );
    drop(tasks);
    // The clone still sees it, and waits for it.
    assert_eq!(other.running(), 1);
    let start = Instant::now();
    wait_bounded(&other).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // With no handle left at all, the task still runs to its end, uncancelled.
    let tasks = Tasks::new("dropped");
    let (tx, rx2) = tokio::sync::oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    tasks.run(
        &Context::background(),
        Func::new(move |ctx: Context| {
            let tx = Arc::clone(&tx);
            async move {
                let slept = sleep(&ctx, Duration::from_secs(5)).await;
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(slept);
                }
                Ok(())
            }
        }),
    );
    drop(tasks);
    assert_eq!(rx.await, Ok(Ok(())));
    assert_eq!(timeout(LIMIT, rx2).await.expect("it ends"), Ok(Ok(())));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_done_future_loses_nothing() {
    let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(5));
    for _ in 0..3 {
        let mut done = tokio_test::task::spawn(ctx.done());
        tokio_test::assert_pending!(done.poll());
    }
    // The deadline is still noticed, by `err()` and by a new `done()`.
    advance(Duration::from_secs(5)).await;
    assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
    assert!(ctx.done().now_or_never().is_some());

    let (ctx, cancel_too) = Context::background().with_cancel();
    let mut dropped = tokio_test::task::spawn(ctx.done());
    tokio_test::assert_pending!(dropped.poll());
    let mut kept = tokio_test::task::spawn(ctx.done());
    tokio_test::assert_pending!(kept.poll());
    drop(dropped);
    cancel_too.cancel();
    assert!(kept.is_woken());
    tokio_test::assert_ready!(kept.poll());
    drop(cancel);
}

/// A runner whose close takes 5 s, counting the closes begun and finished.
struct SlowCloser {
    begun: AtomicUsize,
    finished: AtomicUsize,
}

#[async_trait]
impl Runner for SlowCloser {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        Ok(())
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for SlowCloser {
    async fn close(&self, ctx: Context) -> Result<(), BoxError> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        sleep(&ctx, Duration::from_secs(5)).await?;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_run_close_drops_only_that_close_call() {
    let closer = SlowCloser {
        begun: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    };
    let ctx = Context::background();
    let cut_short = timeout(
        Duration::from_secs(1),
        async_tasks::run_close(&ctx, &closer),
    )
    .await;
    assert!(cut_short.is_err());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        (
            closer.begun.load(Ordering::SeqCst),
            closer.finished.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    // Nothing is left half-done: the next call closes from the start.
    async_tasks::run_close(&ctx, &closer).await.unwrap();
    assert_eq!(
        (
            closer.begun.load(Ordering::SeqCst),
            closer.finished.load(Ordering::SeqCst)
        ),
        (2, 1)
    );
}
