//! `Tasks::run_loop_with` and `LoopPolicy`: the exact waits between iterations on tokio's
//! paused clock (a fixed pause, backoff after failures, reset after a success, a cap on
//! failures in a row, a backoff that runs out), `StopLoop`, the `iteration` / `attempt`
//! span fields, and that every wait ends with the loop's context.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::backon::{ConstantBuilder, ExponentialBuilder};
use async_tasks::task::{LoopPolicy, StopLoop};
use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, Func, Tasks};
use tokio::time::Instant;

/// What each iteration returns, in order; past the end, `StopLoop`.
#[derive(Clone, Copy, Debug)]
enum Step {
    Ok,
    Fail,
}

/// A runner that plays `steps` and records, for each iteration, when it started (seconds
/// since `start`, on the paused clock).
fn scripted(steps: Vec<Step>, start: Instant) -> (Func<impl Fn(Context) -> ScriptFuture>, Starts) {
    let starts: Starts = Arc::default();
    let seen = Arc::clone(&starts);
    let steps = Arc::new(steps);
    let runner = Func::new(move |_ctx| {
        let mut seen = seen.lock().unwrap();
        let index = seen.len();
        seen.push(start.elapsed().as_secs_f64());
        let step = steps.get(index).copied();
        std::future::ready(match step {
            Some(Step::Ok) => Ok(()),
            Some(Step::Fail) => Err(format!("failure {}", index + 1).into()),
            None => Err(StopLoop.into()),
        })
    });
    (runner, starts)
}

type ScriptFuture = std::future::Ready<Result<(), BoxError>>;
type Starts = Arc<Mutex<Vec<f64>>>;

async fn run_to_end(policy: LoopPolicy, steps: Vec<Step>) -> Vec<f64> {
    let tasks = Tasks::new("poller");
    let (runner, starts) = scripted(steps, Instant::now());
    tasks.run_loop_with(&Context::background(), runner, policy);
    tokio::time::timeout(Duration::from_secs(3600), tasks.wait())
        .await
        .expect("the loop ends");
    starts.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn every_pauses_between_iterations_that_did_not_fail() {
    let starts = run_to_end(
        LoopPolicy::every(Duration::from_secs(30)),
        vec![Step::Ok, Step::Ok, Step::Ok],
    )
    .await;
    // Three iterations 30 s apart, then the fourth returns StopLoop.
    assert_eq!(starts, [0.0, 30.0, 60.0, 90.0]);
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_is_capped_and_starts_over_after_a_success() {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(8))
        .without_max_times();
    let policy = LoopPolicy::every(Duration::from_secs(100)).on_error(backoff);
    use Step::{Fail, Ok};
    let starts = run_to_end(policy, vec![Fail, Fail, Fail, Fail, Fail, Ok, Fail, Fail]).await;
    // Waits: 1, 2, 4, 8, 8 (capped) after the failures; 100 after the success; then the
    // delays start over: 1, 2; then StopLoop.
    assert_eq!(
        starts,
        [0.0, 1.0, 3.0, 7.0, 15.0, 23.0, 123.0, 124.0, 126.0]
    );
}

#[tokio::test(start_paused = true)]
async fn without_on_error_the_first_failure_ends_the_loop() {
    use Step::{Fail, Ok};
    let starts = run_to_end(
        LoopPolicy::every(Duration::from_secs(5)),
        vec![Ok, Fail, Ok],
    )
    .await;
    assert_eq!(starts, [0.0, 5.0]);
}

#[tokio::test(start_paused = true)]
async fn max_failures_gives_up_after_that_many_in_a_row_and_says_so() {
    let recorder = SpanRecorder::install();
    let policy = LoopPolicy::new()
        .on_error(
            ConstantBuilder::default()
                .with_delay(Duration::from_secs(2))
                .without_max_times(),
        )
        .max_failures(3);
    use Step::{Fail, Ok};
    // Two failures, a success (resets the count), then three failures: gives up.
    let starts = run_to_end(policy, vec![Fail, Fail, Ok, Fail, Fail, Fail, Ok]).await;
    assert_eq!(starts, [0.0, 2.0, 4.0, 4.0, 6.0, 8.0]);

    let events = recorder.events();
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.field("error").is_some())
        .collect();
    assert_eq!(failures.len(), 5, "every failure is reported once");
    // Each failure the policy retries is a warning; the one it gives up after, an error.
    let levels: Vec<_> = failures.iter().map(|e| e.level()).collect();
    use tracing::Level;
    assert_eq!(
        levels,
        [
            Level::WARN,
            Level::WARN,
            Level::WARN,
            Level::WARN,
            Level::ERROR
        ]
    );
    assert_eq!(failures[0].field("retry_in"), Some("2s"));
    assert_eq!(failures[1].field("attempt"), Some("2"));
    let gave_up = failures[4];
    assert!(
        gave_up.message().is_some_and(|m| m.contains("giving up")),
        "{:?}",
        gave_up.message()
    );
    assert_eq!(gave_up.field("failures"), Some("3"));
}

#[tokio::test(start_paused = true)]
async fn a_backoff_that_runs_out_of_delays_repeats_its_last_one_max_failures_is_the_cap() {
    let policy = LoopPolicy::new().on_error(
        ConstantBuilder::default()
            .with_delay(Duration::from_secs(1))
            .with_max_times(2),
    );
    // No cap: the backoff's two delays, then its last one again, for as long as it fails
    // (here until the script's tenth step, then `StopLoop`).
    let starts = run_to_end(policy, vec![Step::Fail; 10]).await;
    let expected: Vec<f64> = (0..=10).map(f64::from).collect();
    assert_eq!(starts, expected);
}

/// Regression (reports issue): `max_failures(5)` with backon's default builder, whose own
/// limit is 3 delays, gave up after 4 failures: the builder's cap silently won.
#[tokio::test(start_paused = true)]
async fn max_failures_is_the_cap_whatever_the_backoffs_own_limit() {
    let policy = LoopPolicy::new()
        .on_error(ExponentialBuilder::default())
        .max_failures(5);
    let starts = run_to_end(policy, vec![Step::Fail; 10]).await;
    assert_eq!(
        starts.len(),
        5,
        "gave up after exactly 5 failures: {starts:?}"
    );
    // backon's defaults: 1 s, then doubling; after its 3 delays, the last one repeats.
    assert_eq!(starts, [0.0, 1.0, 3.0, 7.0, 11.0]);
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_between_the_delay_and_twice_it() {
    let policy = LoopPolicy::new().on_error(
        ConstantBuilder::default()
            .with_delay(Duration::from_secs(10))
            .with_jitter_seed(7)
            .without_max_times(),
    );
    let starts = run_to_end(policy, vec![Step::Fail; 20]).await;
    assert_eq!(starts.len(), 21);
    for pair in starts.windows(2) {
        let wait = pair[1] - pair[0];
        assert!((10.0..20.0).contains(&wait), "waited {wait} s");
    }
}

#[tokio::test(start_paused = true)]
async fn iteration_and_attempt_are_on_each_iteration_span() {
    let recorder = SpanRecorder::install();
    let policy = LoopPolicy::new().on_error(
        ConstantBuilder::default()
            .with_delay(Duration::from_secs(1))
            .without_max_times(),
    );
    use Step::{Fail, Ok};
    run_to_end(policy, vec![Ok, Fail, Fail, Ok]).await;
    let spans = recorder.spans_named("task");
    let fields: Vec<_> = spans
        .iter()
        .map(|span| {
            (
                span.field("iteration").map(str::to_owned),
                span.field("attempt").map(str::to_owned),
            )
        })
        .collect();
    let expected = [
        (Some("1"), None),
        (Some("2"), None),
        (Some("3"), Some("2")),
        (Some("4"), Some("3")),
        (Some("5"), None),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(i, a)| (i.map(str::to_owned), a.map(str::to_owned)))
        .collect();
    assert_eq!(fields, expected);
}

#[tokio::test(start_paused = true)]
async fn stop_loop_ends_a_plain_loop_quietly_also_when_wrapped() {
    #[derive(Debug)]
    struct Drained(StopLoop);
    impl std::fmt::Display for Drained {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("queue drained")
        }
    }
    impl std::error::Error for Drained {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("drain");
    let runs = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&runs);
    tasks.run_loop(
        &Context::background(),
        Func::new(move |_ctx| {
            let mut runs = seen.lock().unwrap();
            *runs += 1;
            let result: Result<(), BoxError> = if *runs == 3 {
                Err(Drained(StopLoop).into())
            } else {
                Ok(())
            };
            std::future::ready(result)
        }),
    );
    tokio::time::timeout(Duration::from_secs(1), tasks.wait())
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 3);
    assert!(
        recorder.events().is_empty(),
        "nothing is reported: {}",
        recorder.tree()
    );
}

#[tokio::test(start_paused = true)]
async fn canceling_during_a_pause_or_a_backoff_ends_the_loop_at_once() {
    // Either way the loop is parked for an hour after its first iteration: a pause after a
    // success, a backoff after a failure.
    let hour = Duration::from_secs(3600);
    let cases = [
        (LoopPolicy::every(hour), Step::Ok),
        (
            LoopPolicy::new().on_error(ConstantBuilder::default().with_delay(hour)),
            Step::Fail,
        ),
    ];
    for (policy, first) in cases {
        let tasks = Tasks::new("slow");
        let (ctx, cancel) = Context::background().with_cancel();
        let (runner, starts) = scripted(vec![first, Step::Ok], Instant::now());
        tasks.run_loop_with(&ctx, runner, policy);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(1), tasks.wait())
            .await
            .expect("the loop ends when its context is canceled");
        assert_eq!(before.elapsed(), Duration::ZERO);
        assert_eq!(starts.lock().unwrap().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_ends_the_loop_even_when_failures_are_retried() {
    let tasks = Tasks::new("buggy");
    let runs = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&runs);
    tasks.run_loop_with(
        &Context::background(),
        Func::new(move |_ctx| {
            *seen.lock().unwrap() += 1;
            async { panic!("bug") }
        }),
        LoopPolicy::new().on_error(ConstantBuilder::default().without_max_times()),
    );
    tokio::time::timeout(Duration::from_secs(60), tasks.wait())
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 1);
}

#[test]
#[should_panic(expected = "`LoopPolicy::max_failures` must be at least 1")]
fn max_failures_of_zero_is_refused() {
    let _ = LoopPolicy::new().max_failures(0);
}
