//! Calls a caller should not make, or makes from an odd place: nothing hangs, nothing is
//! lost, and what panics says why.
//!
//! Covers:
//! - `run` (and `run_loop`, `run_background`) from inside a runner, 100 levels deep: `wait`
//!   waits for the innermost;
//! - `wait` and `shutdown` from inside a task of the same `Tasks`: the task panics with a
//!   message that says why, reported as one panic event; nothing hangs; `shutdown` has
//!   canceled the others first;
//! - `shutdown` called twice, and concurrently (also from two threads): all return, with the
//!   same outcome.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, Func, Runner, Tasks, run_group, sleep};
use support::{LIMIT, wait_bounded, well_behaved};
use tokio::time::{Instant, timeout};

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
