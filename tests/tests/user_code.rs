//! Every call into the user's code is guarded: whatever it does — panic in a runner's
//! synchronous setup, in a `Drop`, in an error's `Display`, in a classifier, in a loop's
//! backoff, or hand over an error whose `source()` loops — a set still reports once, counts
//! exactly, and returns from `wait`.
//!
//! Covers (the panic-guard sweep of the second reliability round; `group.rs` has run_group's
//! member that panics before its future exists):
//! - a runner whose `run` panics before returning its future;
//! - a runner whose `Drop` panics when its task ends;
//! - a spawned closure's future whose `Drop` panics;
//! - an error whose `Display` panics;
//! - an error that is its own `source()`;
//! - an error classifier that panics;
//! - a backoff that panics when asked for a delay;
//! - a chain of 5,000 nested sets dropped on a 256 KiB stack.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::backon::BackoffBuilder;
use async_tasks::task::LoopPolicy;
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use tokio::time::timeout;
use tracing::Level;

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
    assert_eq!(tasks.running(), 0);
}

/// The ERROR events the library emitted, as `(message, panic field)`.
fn errors(recorder: &SpanRecorder) -> Vec<(String, Option<String>)> {
    recorder
        .events()
        .iter()
        .filter(|e| e.target() == "async_tasks" && e.level() == Level::ERROR)
        .map(|e| {
            (
                e.message().unwrap_or_default().to_owned(),
                e.field("panic").map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_runner_that_panics_before_its_future_exists_is_reported_once() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::named("setup", |_ctx| {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[std::hint::black_box(1)];
            async { Ok(()) }
        }),
    );
    wait_bounded(&tasks).await;
    let found = errors(&recorder);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .0
            .starts_with("task \"setup\" panicked: index out of bounds")
    );
}

/// A runner that panics when dropped.
struct PanicsWhenDropped;

impl Runner for PanicsWhenDropped {
    fn run<'a, 'b>(
        &'a self,
        _ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        // Ends a loop as well as a one-shot run, quietly.
        Box::pin(async { Err(async_tasks::task::StopLoop.into()) })
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("runner dropped badly");
    }
}

#[tokio::test(start_paused = true)]
async fn a_runner_whose_drop_panics_is_reported_and_nothing_is_lost() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), PanicsWhenDropped);
    tasks.run_loop(&Context::background(), PanicsWhenDropped);
    wait_bounded(&tasks).await;
    let found = errors(&recorder);
    let expected = (
        "dropping a runner of tasks \"svc\" panicked: runner dropped badly".to_owned(),
        Some("runner dropped badly".to_owned()),
    );
    assert_eq!(found, [expected.clone(), expected]);
}

/// A value whose `Drop` panics, held by a spawned future.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("future dropped badly");
    }
}

#[tokio::test(start_paused = true)]
async fn a_spawned_future_whose_drop_panics_is_a_panic_reported_once() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    let handle = tasks.spawn(&Context::background(), "bomb", |_ctx| async {
        let _bomb = Bomb;
        Ok::<_, BoxError>(7)
    });
    let err = timeout(LIMIT, handle).await.unwrap().unwrap_err();
    // The future's own drop is its last act: the panic is the task's outcome.
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("future dropped badly"));
    wait_bounded(&tasks).await;
    assert_eq!(errors(&recorder).len(), 1);
}

/// An error whose `Display` panics, and whose `source()` is itself.
#[derive(Debug)]
struct Pathological;

impl fmt::Display for Pathological {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display blew up")
    }
}

impl std::error::Error for Pathological {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self)
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_whose_display_panics_and_whose_source_loops_is_reported_once() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::named("odd", |_ctx| async { Err(Pathological.into()) }),
    );
    wait_bounded(&tasks).await;
    let found = errors(&recorder);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].0,
        "task \"odd\" failed: <its Display or source() panicked: display blew up>"
    );
}

#[tokio::test(start_paused = true)]
async fn a_classifier_that_panics_is_reported_and_the_error_is_an_error() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc").with_error_classes(|_| panic!("classifier blew up"));
    tasks.run(
        &Context::background(),
        Func::named("job", |_ctx| async { Err("bad row".into()) }),
    );
    wait_bounded(&tasks).await;
    let found = errors(&recorder);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0]
            .0
            .starts_with("the error classifier of tasks \"svc\" panicked")
    );
    assert_eq!(found[1].0, "task \"job\" failed: bad row");
}

/// A backoff that panics when asked for its delays.
#[derive(Clone, Debug)]
struct PanickyBackoff;

impl BackoffBuilder for PanickyBackoff {
    type Backoff = std::iter::FromFn<fn() -> Option<Duration>>;

    fn build(self) -> Self::Backoff {
        std::iter::from_fn(|| panic!("backoff blew up"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_backoff_that_panics_ends_its_loop_and_says_so() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    tasks.run_loop_with(
        &Context::background(),
        Func::named("poller", move |_ctx| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err("upstream down".into()) }
        }),
        LoopPolicy::new().on_error(PanickyBackoff),
    );
    wait_bounded(&tasks).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let found = errors(&recorder);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0]
            .0
            .starts_with("the loop policy of task \"poller\" panicked, ending the loop"),
        "{found:?}"
    );
    assert_eq!(found[1].0, "task \"poller\" failed: upstream down");
}

#[test]
fn a_deep_chain_of_sets_drops_from_its_leaf_on_a_small_stack() {
    let dropped = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let root = Tasks::new("r");
            let mut leaf = root.clone();
            for _ in 0..5_000 {
                leaf = leaf.child("c");
            }
            drop(root);
            assert_eq!(leaf.running(), 0);
            drop(leaf);
        })
        .unwrap()
        .join();
    assert!(dropped.is_ok(), "the thread overflowed its stack");
}
