//! Rust counterparts of every test and example of Go's `gobox/pkg/async`
//! (`async_test.go`, `retryable_once_test.go`, `retryable_once_retry_test.go`).
//!
//! Each test is named after the Go one it ports. Where Go prints (`Example…` with an
//! `// Output:` block), the Rust version collects the lines and compares them. Go's real
//! sleeps become tokio's paused clock. Tests on the default set (`async.Default` in Go)
//! hold `SERIAL`, as that set is shared by the whole test binary.
//!
//! Covers: `TestRunGroupErrorPropagation`, `TestRunCancelPropagation`,
//! `TestRunDeadlinePropagation`, `TestSleepUntil`, `TestRunTraceHeaders`,
//! `TestMutexWithContext_EarlyCancel`, `TestMutexWithContext_LateCancel`,
//! `TestMutexWithContext_ExtraUnlock`, `ExampleTasks_run`, `ExampleTasks_runBackground`,
//! `ExampleLoop`, `ExampleTasks_loop`, `TestOnce`, `TestOncePanic`, `TestOnceRetry`.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_tasks::runner::async_trait;
use async_tasks::{
    BoxError, Closer, Context, Func, MutexWithContext, RetryableOnce, Runner, Tasks, default_tasks,
    run, run_background, run_group, run_loop, sleep, sleep_until,
};
use tokio::time::{Instant, timeout};

const LIMIT: Duration = Duration::from_secs(3600);

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on a fresh paused-clock runtime, alone among this file's default-set tests.
fn on_default_tasks<F: Future>(f: F) -> F::Output {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

async fn wait_default() {
    timeout(LIMIT, default_tasks().wait())
        .await
        .expect("default_tasks().wait() did not return");
}

/// What an `Example…` prints, collected.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    fn println(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap()
    }
}

/// Go's `runWithCloser`: loops until its context ends, and records being closed.
#[derive(Default)]
struct RunWithCloser {
    is_closed: AtomicBool,
}

#[async_trait]
impl Runner for RunWithCloser {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(err) = ctx.err() {
                return Err(err.into());
            }
        }
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for RunWithCloser {
    async fn close(&self, _ctx: Context) -> Result<(), BoxError> {
        self.is_closed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn test_run_group_error_propagation() {
    let r2 = Arc::new(RunWithCloser::default());
    let group = run_group(vec![
        Box::new(Func::new(|_ctx| async { Err("oh no".into()) })),
        Box::new(Arc::clone(&r2)),
    ]);
    let err = timeout(LIMIT, group.run(Context::background()))
        .await
        .expect("the group did not stop")
        .unwrap_err();
    assert!(err.to_string().contains("oh no"), "{err}");
    assert!(
        r2.is_closed.load(Ordering::SeqCst),
        "closed the infinite loop correctly"
    );
}

#[test]
fn test_run_cancel_propagation() {
    on_default_tasks(async {
        let (ctx, cancel) = Context::background().with_cancel();
        run(
            &ctx,
            Func::new(|ctx: Context| async move {
                ctx.done().await;
                Ok(())
            }),
        );
        cancel.cancel();
        wait_default().await;
    });
}

#[test]
fn test_run_deadline_propagation() {
    on_default_tasks(async {
        let (ctx, cancel) = Context::background().with_timeout(Duration::from_secs(1));
        let seen = Arc::new(Mutex::new(None));
        run(&ctx, {
            let seen = Arc::clone(&seen);
            Func::new(move |ctx: Context| {
                *seen.lock().unwrap() = Some(ctx.deadline());
                async { Ok(()) }
            })
        });
        cancel.cancel();
        wait_default().await;
        let deadline = seen.lock().unwrap().expect("the runner did not run");
        assert!(deadline.is_some(), "no deadline!");
        assert_eq!(deadline, ctx.deadline());
    });
}

#[tokio::test(start_paused = true)]
async fn test_sleep_until() {
    let ctx = Context::background();
    let now = Instant::now();
    assert_eq!(
        sleep_until(&ctx, now - Duration::from_secs(1)).await,
        Ok(())
    );
    assert_eq!(now.elapsed(), Duration::ZERO, "slept too long");

    assert_eq!(
        sleep_until(&ctx, Instant::now() + Duration::from_millis(1)).await,
        Ok(())
    );
    assert_eq!(now.elapsed(), Duration::from_millis(1), "slept too long");
}

#[test]
fn test_run_trace_headers() {
    // Go checks that the runner's context carries trace headers; here, that the runner
    // runs inside a live span when a subscriber is installed.
    let _recorder = async_tasks::testing::SpanRecorder::install();
    on_default_tasks(async {
        let in_span = Arc::new(AtomicBool::new(false));
        run(&Context::background(), {
            let in_span = Arc::clone(&in_span);
            Func::new(move |_ctx| {
                let in_span = Arc::clone(&in_span);
                async move {
                    let span = tracing::Span::current();
                    in_span.store(span.id().is_some(), Ordering::SeqCst);
                    Ok(())
                }
            })
        });
        wait_default().await;
        assert!(in_span.load(Ordering::SeqCst), "missing trace span");
    });
}

#[tokio::test]
async fn test_mutex_with_context_early_cancel() {
    let mutex = MutexWithContext::new(());
    let _first = mutex
        .lock(&Context::background())
        .await
        .expect("first lock acquisition should not fail");

    let (ctx2, cancel2) = Context::background().with_cancel();
    // Cancel right away, before the second wait starts.
    cancel2.cancel();
    let second = timeout(Duration::from_secs(10), mutex.lock(&ctx2))
        .await
        .unwrap();
    assert!(second.is_err(), "expected error from cancellation");
}

#[tokio::test(start_paused = true)]
async fn test_mutex_with_context_late_cancel() {
    let mutex = MutexWithContext::new(());
    let _first = mutex
        .lock(&Context::background())
        .await
        .expect("first lock acquisition should not fail");

    let (ctx2, _cancel2) = Context::background().with_timeout(Duration::from_millis(1));
    // Blocks until the timeout; on the paused clock there is no race with the deadline.
    let start = Instant::now();
    let second = timeout(LIMIT, mutex.lock(&ctx2)).await.unwrap();
    assert!(second.is_err(), "expected error from cancellation");
    assert_eq!(start.elapsed(), Duration::from_millis(1));
}

#[tokio::test]
async fn test_mutex_with_context_extra_unlock() {
    // Go panics on a second `Unlock`. Here unlocking is dropping the guard, which can
    // happen once only, so an extra unlock does not compile. What can still be checked:
    // one lock and one unlock leave the mutex lockable exactly once, not twice.
    let mutex = MutexWithContext::new(());
    let guard = mutex
        .lock(&Context::background())
        .await
        .expect("first lock acquisition should not fail");
    drop(guard);
    let again = mutex.try_lock().expect("unlocked");
    assert!(mutex.try_lock().is_none(), "a single unlock released twice");
    drop(again);
}

#[tokio::test]
async fn example_tasks_run() {
    let out = Output::default();
    let (ctx, cancel) = Context::background().with_cancel();
    let tasks = Tasks::new("example");
    tasks.run(&ctx, {
        let out = out.clone();
        Func::new(move |_ctx| {
            out.println("Run example");
            async { Ok(()) }
        })
    });
    cancel.cancel();
    timeout(LIMIT, tasks.wait()).await.unwrap();
    assert_eq!(*out.lines(), ["Run example"]);
}

#[test]
fn example_tasks_run_background() {
    on_default_tasks(async {
        let out = Output::default();
        let (ctx_main, cancel) = Context::background().with_cancel();
        let cancel = Mutex::new(Some(cancel));
        run_background(&ctx_main, {
            let out = out.clone();
            Func::new(move |ctx: Context| {
                // Canceling the caller's context must not reach the task's.
                if let Some(cancel) = cancel.lock().unwrap().take() {
                    cancel.cancel();
                }
                let out = out.clone();
                async move {
                    out.println(format!("{:?}", ctx.err()));
                    out.println("Run example");
                    Ok(())
                }
            })
        });
        wait_default().await;
        assert!(ctx_main.is_done());
        assert_eq!(*out.lines(), ["None", "Run example"]);
    });
}

/// The runner of Go's loop examples: counts to three, then waits for its context.
fn count_to_three(out: &Output) -> impl Runner + use<> {
    let out = out.clone();
    let count = Arc::new(AtomicUsize::new(0));
    Func::new(move |ctx: Context| {
        let (out, count) = (out.clone(), Arc::clone(&count));
        async move {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= 3 {
                out.println(format!("count {n}"));
            } else {
                ctx.done().await;
                if n > 100 {
                    // The loop went on after its context ended: fail instead of hanging.
                    return Err("runaway loop".into());
                }
            }
            Ok(())
        }
    })
}

#[test]
fn example_loop() {
    on_default_tasks(async {
        let out = Output::default();
        let (ctx, cancel) = Context::background().with_cancel();
        run_loop(&ctx, count_to_three(&out));
        tokio::time::sleep(Duration::from_millis(5)).await;
        cancel.cancel();
        wait_default().await;
        assert_eq!(*out.lines(), ["count 1", "count 2", "count 3"]);
    });
}

#[tokio::test(start_paused = true)]
async fn example_tasks_loop() {
    let out = Output::default();
    let (ctx, cancel) = Context::background().with_cancel();
    let tasks = Tasks::new("example");
    tasks.run_loop(&ctx, count_to_three(&out));
    assert_eq!(sleep(&ctx, Duration::from_millis(5)).await, Ok(()));
    cancel.cancel();
    timeout(LIMIT, tasks.wait()).await.unwrap();
    assert_eq!(*out.lines(), ["count 1", "count 2", "count 3"]);
}

#[test]
fn test_once() {
    const N: usize = 10;
    let once = Arc::new(RetryableOnce::new());
    let o = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (once, o, barrier) = (Arc::clone(&once), Arc::clone(&o), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                once.call(|| {
                    o.fetch_add(1, Ordering::SeqCst);
                    true
                });
                let v = o.load(Ordering::SeqCst);
                assert_eq!(v, 1, "once failed inside run: {v} is not 1");
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(o.load(Ordering::SeqCst), 1, "once failed outside run");
}

#[test]
fn test_once_panic() {
    let once = RetryableOnce::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        once.call(|| panic!("failed"));
    }));
    assert!(result.is_err(), "call did not panic");
    // A panic cannot be retried: the once is done after it.
    once.call(|| panic!("call ran f twice"));
}

#[test]
fn test_once_retry() {
    let once = RetryableOnce::new();
    let mut o = 0;

    let result = once.call(|| {
        o += 1;
        false
    });
    assert_eq!(o, 1, "f must be called once");
    assert!(!result, "call must return false to say 'not done'");

    // Still called, since the first attempt asked for a retry.
    let result = once.call(|| {
        o += 1;
        true
    });
    assert_eq!(o, 2, "f must be called twice");
    assert!(result, "call must return true to say 'done'");

    let result = once.call(|| {
        o += 1;
        false
    });
    assert_eq!(o, 2, "f must be called exactly twice");
    assert!(result, "call must return true to say 'done'");
}
