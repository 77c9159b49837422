//! `Pool`: a bounded group whose `run` waits for a free slot and whose `wait` returns the
//! errors.
//!
//! Covers:
//! - `Pool: Send + Sync`, `new` needs no runtime, `Debug` shows the state, the `run` future
//!   is `Send`;
//! - never more than `max_concurrency` runs in flight (a gauge over 50 runs with n = 3 peaks
//!   at exactly 3), `run` returns as soon as its run is admitted, and `wait` returns when the
//!   last run ends (exact paused time);
//! - every failure comes out of `wait`, with its task's name (runner or pool), a panic with
//!   its message; cancellations are not failures, `DeadlineExceeded` is; a second `wait`
//!   returns only the failures since the first;
//! - admission is ctx-aware: a run waiting for a slot returns `Err(Canceled)` when its ctx is
//!   canceled and `Err(DeadlineExceeded)` at its deadline, without running; a done ctx is
//!   refused even with a slot free, and so is a run handed its slot as its ctx ends (the slot
//!   goes back); a dropped admission takes no slot;
//! - `cancel_on_error(true)`: the first failure (error or panic) cancels the runs in flight
//!   and the waiting admissions, and refuses later runs; without it, the others go on;
//! - the runs are traced: one "task" span each, `task.name` = the pool's name, parented to
//!   the caller's span, with the failure reported once in it.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::pool::{AdmitError, Pool, PoolErrors};
use async_tasks::testing::{SpanRecorder, Status};
use async_tasks::{BoxError, Context, Func, Runner, TaskError, sleep};
use tokio::time::{Instant, timeout};
use tokio_test::{assert_pending, assert_ready, task};
use tracing::{Instrument, Level};

/// An error whose `source()` is a `ContextError`.
#[derive(Debug)]
struct Wrapped(ContextError);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query aborted")
    }
}

impl Error for Wrapped {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(pool: &Pool) -> Result<(), PoolErrors> {
    timeout(LIMIT, pool.wait())
        .await
        .expect("Pool::wait did not return")
}

/// A runner that holds its slot until its context is done, then returns `Ok`.
fn until_done() -> impl Runner {
    Func::new(|ctx: Context| async move {
        ctx.done().await;
        Ok(())
    })
}

/// A runner that counts its runs.
fn counted(runs: &Arc<AtomicUsize>) -> impl Runner + use<> {
    let runs = Arc::clone(runs);
    Func::new(move |_ctx| {
        runs.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(()))
    })
}

#[test]
fn a_pool_can_be_shared_and_made_without_a_runtime() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Pool>();
    send_sync::<PoolErrors>();
    send_sync::<async_tasks::TaskError>();

    let pool = Pool::new(String::from("images"))
        .max_concurrency(4)
        .cancel_on_error(true);
    assert_eq!(pool.name(), "images");
    assert_eq!(pool.running(), 0);
    assert_eq!(
        format!("{pool:?}"),
        "Pool { path: \"images\", max_concurrency: 4, running: 0, free_slots: 4, queue: 0, \
         queued: 0, cancel_on_error: true, closed: false }"
    );
    let ctx = Context::background();
    let run = pool.run(&ctx, counted(&Arc::default()));
    send(&run);
}

#[tokio::test]
async fn cancel_on_error_on_a_clone_is_the_policy_of_the_set_every_clone_shares() {
    let pool = Pool::new("images").max_concurrency(2);
    let clone = pool.clone().cancel_on_error(true);
    // Both handles say so, as both escalate: the policy is their shared set's.
    assert!(
        format!("{pool:?}").contains("cancel_on_error: true"),
        "{pool:?}"
    );
    assert!(
        format!("{clone:?}").contains("cancel_on_error: true"),
        "{clone:?}"
    );
    let ctx = Context::background();
    pool.run(
        &ctx,
        Func::named("broken", |_ctx| async { Err("boom".into()) }),
    )
    .await
    .unwrap();
    let errors = timeout(Duration::from_secs(5), pool.wait())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(errors.errors().len(), 1);
    assert_eq!(
        clone.run(&ctx, Func::new(|_ctx| async { Ok(()) })).await,
        Err(AdmitError::Closed),
        "the original's failure shut the set the clone shares"
    );
    let plain = Pool::new("plain");
    let _also_plain = plain.clone().cancel_on_error(false);
    assert!(
        format!("{plain:?}").contains("cancel_on_error: false"),
        "{plain:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn never_more_than_max_concurrency_runs_in_flight() {
    const RUNS: u64 = 50;
    let pool = Pool::new("bounded").max_concurrency(3);
    let ctx = Context::background();
    let (in_flight, peak, finished) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let start = Instant::now();
    let mut total_ms = 0;
    for i in 0..RUNS {
        // Uneven lengths, so that runs end out of order.
        let ms = 10 * (i % 7 + 1);
        total_ms += ms;
        let (in_flight, peak, finished) = (
            Arc::clone(&in_flight),
            Arc::clone(&peak),
            Arc::clone(&finished),
        );
        let admitted = pool.run(
            &ctx,
            Func::new(move |ctx| {
                let (in_flight, peak, finished) = (
                    Arc::clone(&in_flight),
                    Arc::clone(&peak),
                    Arc::clone(&finished),
                );
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    sleep(&ctx, Duration::from_millis(ms)).await?;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    finished.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            }),
        );
        timeout(LIMIT, admitted)
            .await
            .expect("admission hangs")
            .unwrap();
        assert!(pool.running() <= 3, "{} running", pool.running());
    }
    wait_bounded(&pool).await.unwrap();

    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "the bound was not used or not kept"
    );
    assert_eq!(finished.load(Ordering::SeqCst), RUNS as usize);
    assert_eq!(pool.running(), 0);
    // Three at a time: it took at least a third of the work, and far less than all of it.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(total_ms / 3),
        "{elapsed:?}"
    );
    assert!(elapsed < Duration::from_millis(total_ms / 2), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn run_returns_once_admitted_and_wait_returns_when_the_last_run_ends() {
    let pool = Pool::new("timing").max_concurrency(2);
    let ctx = Context::background();
    let start = Instant::now();
    let sleeper = |secs| {
        Func::new(move |ctx: Context| async move {
            sleep(&ctx, Duration::from_secs(secs)).await?;
            Ok(())
        })
    };
    pool.run(&ctx, sleeper(3)).await.unwrap();
    pool.run(&ctx, sleeper(1)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "two slots: no waiting");
    // The third waits for the one-second run to end.
    pool.run(&ctx, sleeper(5)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    wait_bounded(&pool).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn every_failure_comes_out_of_wait_with_its_tasks_name() {
    let pool = Pool::new("jobs").max_concurrency(2);
    let ctx = Context::background();
    let fail = |name: Option<&'static str>, message: &'static str| {
        let f = move |_ctx: Context| async move { Err::<(), BoxError>(message.into()) };
        match name {
            Some(name) => Box::new(Func::named(name, f)) as Box<dyn Runner>,
            None => Box::new(Func::new(f)),
        }
    };
    pool.run(&ctx, fail(Some("import"), "bad csv"))
        .await
        .unwrap();
    pool.run(&ctx, fail(None, "disk full")).await.unwrap();
    pool.run(
        &ctx,
        Func::named("resize", |_ctx| async { panic!("bad image") }),
    )
    .await
    .unwrap();
    // Not failures: `Ok`, `Canceled`, and an error caused by `Canceled`.
    pool.run(&ctx, Func::new(|_ctx| async { Ok(()) }))
        .await
        .unwrap();
    pool.run(
        &ctx,
        Func::new(|_ctx| async { Err(ContextError::Canceled.into()) }),
    )
    .await
    .unwrap();
    pool.run(
        &ctx,
        Func::new(|_ctx| async { Err(Wrapped(ContextError::Canceled).into()) }),
    )
    .await
    .unwrap();
    // A deadline is a failure, as `Tasks` reports it.
    pool.run(
        &ctx,
        Func::named("slow", |ctx| async move {
            let (ctx, _cancel) = ctx.with_timeout(Duration::from_secs(1));
            sleep(&ctx, Duration::from_secs(2)).await?;
            Ok(())
        }),
    )
    .await
    .unwrap();

    let errors = wait_bounded(&pool).await.unwrap_err();
    assert_eq!(errors.pool_name(), "jobs");
    let mut seen: Vec<(String, Option<String>, Option<String>)> = errors
        .errors()
        .iter()
        .map(|e| {
            (
                e.name().to_owned(),
                e.error().map(ToString::to_string),
                e.panic_message().map(str::to_owned),
            )
        })
        .collect();
    seen.sort();
    let entry = |name: &str, error: Option<&str>, panic: Option<&str>| {
        (
            name.to_owned(),
            error.map(str::to_owned),
            panic.map(str::to_owned),
        )
    };
    assert_eq!(
        seen,
        [
            entry("import", Some("bad csv"), None),
            entry("jobs", Some("disk full"), None),
            entry("resize", None, Some("bad image")),
            entry("slow", Some("context deadline exceeded"), None),
        ]
    );
    let slow = errors.errors().iter().find(|e| e.name() == "slow").unwrap();
    assert_eq!(
        slow.error().unwrap().downcast_ref::<ContextError>(),
        Some(&ContextError::DeadlineExceeded),
        "the original error comes out, not a copy of its message"
    );
    assert!(errors.errors().iter().any(|e| e.is_panic()));

    // Returned once; a later wait returns only what failed since.
    assert!(wait_bounded(&pool).await.is_ok());
    pool.run(&ctx, fail(None, "again")).await.unwrap();
    let errors = wait_bounded(&pool).await.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "1 task of pool `jobs` failed: jobs: again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_a_slot_gives_up_when_its_ctx_is_cancelled() {
    let pool = Pool::new("admission").max_concurrency(1);
    let (busy, release) = Context::background().with_cancel();
    pool.run(&busy, until_done()).await.unwrap();

    let runs = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    let mut admission = task::spawn(pool.run(&ctx, counted(&runs)));
    assert_pending!(admission.poll());
    assert_pending!(admission.poll());
    cancel.cancel();
    assert!(
        admission.is_woken(),
        "canceling must wake the waiting admission"
    );
    assert_eq!(
        assert_ready!(admission.poll()),
        Err(AdmitError::Context(ContextError::Canceled))
    );
    drop(admission);

    release.cancel();
    wait_bounded(&pool).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a refused runner never runs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_a_slot_gives_up_at_its_deadline() {
    let pool = Pool::new("admission").max_concurrency(1);
    let (busy, release) = Context::background().with_cancel();
    pool.run(&busy, until_done()).await.unwrap();

    let runs = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(2));
    let refused = timeout(LIMIT, pool.run(&ctx, counted(&runs)))
        .await
        .expect("admission hangs");
    assert_eq!(
        refused,
        Err(AdmitError::Context(ContextError::DeadlineExceeded))
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "gave up at the deadline"
    );

    release.cancel();
    wait_bounded(&pool).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_done_ctx_is_refused_even_with_a_slot_free() {
    let pool = Pool::new("admission").max_concurrency(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    assert_eq!(
        pool.run(&ctx, counted(&runs)).await,
        Err(AdmitError::Context(ContextError::Canceled))
    );
    assert_eq!(pool.running(), 0);
    wait_bounded(&pool).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_admission_takes_no_slot() {
    let pool = Pool::new("admission").max_concurrency(1);
    let (busy, release) = Context::background().with_cancel();
    pool.run(&busy, until_done()).await.unwrap();

    let runs = Arc::new(AtomicUsize::new(0));
    let ctx = Context::background();
    let mut dropped = task::spawn(pool.run(&ctx, counted(&runs)));
    assert_pending!(dropped.poll());
    drop(dropped);

    release.cancel();
    wait_bounded(&pool).await.unwrap();
    // The slot is free: a run with no patience at all for waiting is admitted at once.
    let start = Instant::now();
    let (soon, _cancel) = Context::background().with_timeout(Duration::from_millis(1));
    pool.run(&soon, counted(&runs)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    wait_bounded(&pool).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "only the admitted runner ran"
    );
}

/// Starts two minute-long runs that record how their context ended, then `fail`, then
/// waits for a slot for a fourth run; returns how that admission ended and what the two
/// minute-long runs saw, once every run has ended.
async fn first_failure_among_others(pool: &Pool, fail: impl Runner + 'static) -> Outcome {
    let start = Instant::now();
    let ctx = Context::background();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..2 {
        let seen = Arc::clone(&seen);
        pool.run(
            &ctx,
            Func::new(move |ctx| {
                let seen = Arc::clone(&seen);
                async move {
                    // Runs for a minute unless canceled.
                    let slept = sleep(&ctx, Duration::from_secs(60)).await;
                    let cause = ctx.cause().and_then(|cause| {
                        let failed = cause.downcast_ref::<TaskError>()?;
                        Some(format!("{} {failed}", failed.is_panic()))
                    });
                    seen.lock()
                        .unwrap()
                        .push((slept.err(), start.elapsed(), cause));
                    slept?;
                    Ok(())
                }
            }),
        )
        .await
        .unwrap();
    }
    pool.run(&ctx, fail).await.unwrap();
    let fourth_runs = Arc::new(AtomicUsize::new(0));
    let waiting = timeout(LIMIT, pool.run(&ctx, counted(&fourth_runs)))
        .await
        .expect("admission hangs");
    let admitted_at = start.elapsed();
    let wait = wait_bounded(pool).await;
    let seen = seen.lock().unwrap().clone();
    Outcome {
        seen,
        waiting,
        admitted_at,
        fourth_ran: fourth_runs.load(Ordering::SeqCst) == 1,
        wait,
    }
}

#[derive(Debug)]
struct Outcome {
    /// How the two minute-long runs' `sleep` ended, when, and the `TaskError` their
    /// context was canceled with (`is_panic`, then its `Display`).
    seen: Vec<(Option<ContextError>, Duration, Option<String>)>,
    /// What the admission of the fourth run returned, and when.
    waiting: Result<(), AdmitError>,
    admitted_at: Duration,
    fourth_ran: bool,
    wait: Result<(), PoolErrors>,
}

fn fails_after_a_second() -> impl Runner {
    Func::named("breaker", |ctx| async move {
        sleep(&ctx, Duration::from_secs(1)).await?;
        Err("boom".into())
    })
}

#[tokio::test(start_paused = true)]
async fn cancel_on_error_stops_the_others_at_the_first_failure() {
    let pool = Pool::new("all-or-nothing")
        .max_concurrency(3)
        .cancel_on_error(true);
    let outcome = first_failure_among_others(&pool, fails_after_a_second()).await;

    // The failure comes out, alone: the cancellations it caused are not failures.
    let errors = outcome.wait.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "1 task of pool `all-or-nothing` failed: breaker: boom"
    );
    // The two in flight were canceled by it, at that moment, with it as the cause.
    let canceled_at_one_second = (
        Some(ContextError::Canceled),
        Duration::from_secs(1),
        Some("false breaker: boom".to_owned()),
    );
    assert_eq!(
        outcome.seen,
        [canceled_at_one_second.clone(), canceled_at_one_second]
    );
    // The admission waiting for a slot was refused then (the pool is closed), and so is
    // every later run.
    assert_eq!(outcome.waiting, Err(AdmitError::Closed));
    assert_eq!(outcome.admitted_at, Duration::from_secs(1));
    assert!(!outcome.fourth_ran);
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        pool.run(&Context::background(), counted(&runs)).await,
        Err(AdmitError::Closed)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(format!("{pool:?}").contains("closed: true"));
}

#[tokio::test(start_paused = true)]
async fn cancel_on_error_counts_a_panic_as_the_first_failure() {
    let pool = Pool::new("all-or-nothing")
        .max_concurrency(3)
        .cancel_on_error(true);
    let panics = Func::named("panicker", |ctx| async move {
        sleep(&ctx, Duration::from_secs(1)).await?;
        panic!("invariant broken");
    });
    let outcome = first_failure_among_others(&pool, panics).await;
    let errors = outcome.wait.unwrap_err();
    assert_eq!(errors.errors().len(), 1, "{errors}");
    assert_eq!(errors.errors()[0].panic_message(), Some("invariant broken"));
    let canceled_at_one_second = (
        Some(ContextError::Canceled),
        Duration::from_secs(1),
        Some("true panicker panicked: invariant broken".to_owned()),
    );
    assert_eq!(
        outcome.seen,
        [canceled_at_one_second.clone(), canceled_at_one_second]
    );
    assert_eq!(outcome.waiting, Err(AdmitError::Closed));
}

#[tokio::test(start_paused = true)]
async fn without_cancel_on_error_the_others_go_on() {
    let pool = Pool::new("best-effort").max_concurrency(3);
    let outcome = first_failure_among_others(&pool, fails_after_a_second()).await;
    // The failure comes out...
    let errors = outcome.wait.unwrap_err();
    assert_eq!(
        errors.to_string(),
        "1 task of pool `best-effort` failed: breaker: boom"
    );
    // ...but the two in flight ran their minute,
    let ran_their_minute = (None, Duration::from_secs(60), None);
    assert_eq!(outcome.seen, [ran_their_minute.clone(), ran_their_minute]);
    // and the waiting admission got the failed run's slot.
    assert_eq!(outcome.waiting, Ok(()));
    assert_eq!(outcome.admitted_at, Duration::from_secs(1));
    assert!(outcome.fourth_ran);
}

#[tokio::test]
async fn runs_are_traced_in_task_spans_named_after_the_pool() {
    let recorder = SpanRecorder::install();
    let pool = Pool::new("crawler").max_concurrency(1);
    let ctx = Context::background();
    let request = tracing::info_span!("request");
    async {
        pool.run(&ctx, Func::new(|_ctx| async { Ok(()) }))
            .await
            .unwrap();
        pool.run(&ctx, Func::new(|_ctx| async { Err("boom".into()) }))
            .await
            .unwrap();
        pool.run(&ctx, Func::new(|_ctx| async { panic!("oops") }))
            .await
            .unwrap();
    }
    .instrument(request.clone())
    .await;
    let errors = wait_bounded(&pool).await.unwrap_err();
    assert_eq!(errors.errors().len(), 2);

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 3, "{}", recorder.tree());
    let request_id = recorder.span("request").id();
    for span in &spans {
        assert_eq!(span.level(), Level::INFO);
        assert_eq!(span.field("task.name"), Some("crawler"));
        assert_eq!(span.field("otel.name"), Some("crawler"));
        assert_eq!(span.parent().map(|p| p.id()), Some(request_id));
        assert!(span.is_closed());
    }
    // The error and the panic are each reported once, in their own span.
    assert!(spans[0].events().is_empty());
    let failed = spans[1].events();
    assert_eq!(failed.len(), 1, "{}", recorder.tree());
    assert_eq!(failed[0].level(), Level::ERROR);
    assert_eq!(failed[0].field("error"), Some("boom"));
    assert_eq!(spans[1].status(), Status::Error("boom".into()));
    let panicked = spans[2].events();
    assert_eq!(panicked.len(), 1, "{}", recorder.tree());
    assert_eq!(panicked[0].field("panic"), Some("oops"));
    assert_eq!(spans[2].status(), Status::Error("oops".into()));
}

/// A run handed a slot in the same turn as its context ends checks its context again before
/// it acts: it is refused with the context's error, runs nothing, and gives the slot back.
#[tokio::test]
async fn a_run_whose_context_ends_as_its_slot_comes_is_refused() {
    let pool = Pool::new("p").max_concurrency(1);
    let ctx = Context::background();
    let (holder, release) = ctx.with_cancel();
    let hold = Func::new(|ctx: Context| async move {
        ctx.done().await;
        Ok(())
    });
    pool.run(&holder, hold).await.unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (late, cancel) = ctx.with_cancel();
    let counted = Arc::clone(&ran);
    let mut waiter = task::spawn(pool.run(
        &late,
        Func::new(move |_ctx| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        }),
    ));
    assert_pending!(waiter.poll());
    release.cancel();
    // The holder's task ends and gives its slot to the waiter, which is woken...
    timeout(Duration::from_secs(10), async {
        while !waiter.is_woken() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the slot never came");
    cancel.cancel(); // ...and its context ends before it is polled again.
    let refused = assert_ready!(waiter.poll());
    assert_eq!(refused, Err(AdmitError::Context(ContextError::Canceled)));
    drop(waiter);
    timeout(LIMIT, pool.wait()).await.unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pool.running(), 0);
    // The slot was given back: a new run is admitted at once.
    let mut next = task::spawn(pool.run(&ctx, Func::new(|_ctx| async { Ok(()) })));
    assert_ready!(next.poll()).unwrap();
}
