//! The span of a failed `#[async_task]` call hosts its run's report only when the run failed
//! with that very error (or panic): a thread-local hand-off tied to its event (reliability
//! round 3, the class of defect 7).
//!
//! Covers: a run that drops its call's error and fails with an error of another type, made
//! where the dropped one lived (the allocator gives the freed block back at once), is
//! reported in the run's own span (regression: the hand-off was tied to the error's address
//! alone, and the report went into the call's span, with the call's fields).

use async_tasks::testing::SpanRecorder;
use async_tasks::{BoxError, Context, Func, Runner, Tasks, async_task};

#[async_task]
async fn fetch(_ctx: Context) -> Result<(), BoxError> {
    Err(Box::new(Upstream(502)))
}

/// The call's error.
#[derive(Debug)]
struct Upstream(u64);

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream answered {}", self.0)
    }
}

impl std::error::Error for Upstream {}

/// The run's own error: another type, of the same size.
#[derive(Debug)]
struct GaveUp(u64);

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gave up after {} tries", self.0)
    }
}

impl std::error::Error for GaveUp {}

#[tokio::test]
async fn a_run_failing_with_another_error_is_reported_in_its_own_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::named("retrier", |ctx: Context| async move {
            let failed = fetch().run(ctx).await.unwrap_err();
            let at = std::ptr::from_ref(&*failed).cast::<()>();
            drop(failed);
            // Very likely where the call's error was: the same size, freed just now.
            let own: BoxError = Box::new(GaveUp(3));
            let reused = std::ptr::eq(std::ptr::from_ref(&*own).cast::<()>(), at);
            assert!(
                reused,
                "the allocator did not reuse the block: the test proves nothing"
            );
            Err(own)
        }),
    );
    tasks.wait().await;
    let events = recorder.events();
    let report = events
        .iter()
        .find(|event| event.field("error") == Some("gave up after 3 tries"))
        .unwrap_or_else(|| panic!("no report: {}", recorder.tree()));
    let span = report.span().expect("the report is in a span");
    assert_eq!(
        span.name(),
        "task",
        "the run's own failure is reported in its own span, not the call's: {}",
        recorder.tree()
    );
}
