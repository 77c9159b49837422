//! The spans and events of `Tasks`, recorded with `async_tasks::testing::SpanRecorder`.
//!
//! Covers:
//! - `run`: one span named "task" at INFO with `task.name` and `otel.name`, parented to the
//!   span current at the `run` call (or a root without one), entered, exited and closed by
//!   the time `wait()` returns;
//! - a task started by a task is parented to that task's span;
//! - `run_loop`: a new span per iteration, each parented to the caller's span;
//! - `run_background`: a root span with a `follows_from` link to the caller's span;
//! - an error: exactly one ERROR event with an `error` field in the task span, and
//!   `otel.status_code` / `otel.status_description` on it; `ContextError::Canceled`, also in a
//!   `source()` chain, reported nowhere; `DeadlineExceeded` reported;
//! - a panic: one ERROR event with a `panic` field holding the message, the same status
//!   fields, and the end of the task (a loop stops);
//! - the whole tree of a realistic run, and the same semantics on a multi-thread runtime.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::testing::{RecordedSpan, SpanRecorder, Status};
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use tokio::time::timeout;
use tracing::{Instrument, Level};

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

fn fails_with(err: impl Fn() -> BoxError + Send + Sync + 'static) -> impl Runner {
    Func::new(move |_ctx| std::future::ready(Err(err())))
}

/// Asserts the whole lifecycle of a task span: named "task" at INFO, both names set,
/// entered as often as exited, and closed.
#[track_caller]
fn assert_finished_task_span(span: &RecordedSpan, tasks_name: &str) {
    assert_eq!(span.name(), "task");
    assert_eq!(span.level(), Level::INFO);
    assert_eq!(span.field("task.name"), Some(tasks_name));
    assert_eq!(span.field("otel.name"), Some(tasks_name));
    assert!(span.enter_count() >= 1, "never entered: {span:?}");
    assert_eq!(span.enter_count(), span.exit_count());
    assert!(span.is_closed(), "not closed: {span:?}");
}

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

#[tokio::test]
async fn run_span_is_a_closed_info_task_span_parented_to_the_callers_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("sync-users");
    let request = tracing::info_span!("request");
    request.in_scope(|| tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) })));
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_finished_task_span(&task, "sync-users");
    let parent = task.parent().expect("the task span has a parent");
    assert_eq!(parent.id(), recorder.span("request").id());
    assert_eq!(parent.name(), "request");
    assert!(task.events().is_empty());
    assert_eq!(task.status(), Status::Unset);
    assert_eq!(recorder.spans().len(), 1, "only the task span has closed");
}

#[tokio::test]
async fn run_without_a_current_span_starts_a_root_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("root");
    tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_finished_task_span(&task, "root");
    assert!(task.parent().is_none());
}

#[tokio::test]
async fn the_runner_runs_inside_its_task_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("inside");
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async {
            tracing::info!("working");
            tracing::info_span!("step").in_scope(|| {});
            Ok(())
        }),
    );
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_eq!(task.events().len(), 1);
    assert_eq!(task.events()[0].message(), Some("working"));
    assert_eq!(
        recorder.span("step").parent().map(|p| p.id()),
        Some(task.id())
    );
}

#[tokio::test(start_paused = true)]
async fn the_runner_is_called_inside_its_task_span() {
    // A `Func`'s closure runs before its future does: what it does there (start a span, as
    // `#[async_task]` does, or log) belongs to the run too.
    fn logs_when_called(_ctx: Context) -> std::future::Ready<Result<(), BoxError>> {
        tracing::info!("called");
        std::future::ready(Ok(()))
    }

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("called");
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run(&ctx, Func::new(logs_when_called));
    tasks.run_background(&ctx, Func::new(logs_when_called));
    tasks.run_loop(
        &ctx,
        Func::new(move |ctx| {
            cancel.cancel(); // one iteration
            logs_when_called(ctx)
        }),
    );
    wait_bounded(&tasks).await;

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 3);
    for span in &spans {
        let messages: Vec<_> = span.events().iter().map(|e| e.message()).collect();
        assert_eq!(messages, [Some("called")], "{}", recorder.tree());
    }
}

#[tokio::test]
async fn a_task_started_by_a_task_is_parented_to_its_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("outer");
    let inner_tasks = Tasks::new("inner");
    let spawner = inner_tasks.clone();
    tasks.run(
        &Context::background(),
        Func::new(move |ctx| {
            spawner.run(&ctx, Func::new(|_ctx| async { Ok(()) }));
            async { Ok(()) }
        }),
    );
    wait_bounded(&tasks).await;
    wait_bounded(&inner_tasks).await;

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    let (outer, inner) = (&spans[0], &spans[1]);
    assert_finished_task_span(outer, "outer");
    assert_finished_task_span(inner, "inner");
    assert_eq!(inner.parent().map(|p| p.id()), Some(outer.id()));
}

#[tokio::test(start_paused = true)]
async fn run_loop_opens_a_new_span_per_iteration_each_parented_to_the_callers_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("poller");
    let (ctx, cancel) = Context::background().with_cancel();
    let iterations = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&iterations);
    let request = tracing::info_span!("request");
    request.in_scope(|| {
        tasks.run_loop(
            &ctx,
            Func::new(move |ctx| {
                if counter.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                    cancel.cancel(); // the third iteration is the last
                }
                async move {
                    tracing::info!("polled");
                    async_tasks::sleep(&ctx, Duration::from_secs(1)).await?;
                    Ok(())
                }
            }),
        );
    });
    wait_bounded(&tasks).await;

    assert_eq!(iterations.load(Ordering::SeqCst), 3);
    let request_id = recorder.span("request").id();
    let spans = recorder.spans_named("task");
    assert_eq!(
        spans.len(),
        3,
        "one span per iteration:\n{}",
        recorder.tree()
    );
    for span in &spans {
        assert_finished_task_span(span, "poller");
        assert_eq!(span.parent().map(|p| p.id()), Some(request_id));
        assert_eq!(
            span.events().len(),
            1,
            "each iteration's event in its own span"
        );
    }
    assert!(spans.windows(2).all(|w| w[0].id() != w[1].id()));
    // The third iteration ended canceled: that is not reported.
    assert_eq!(recorder.events().len(), 3);
}

#[tokio::test]
async fn run_background_starts_a_root_span_that_follows_from_the_callers_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("cleanup");
    let request = tracing::info_span!("request");
    request.in_scope(|| {
        tasks.run_background(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    });
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_finished_task_span(&task, "cleanup");
    assert!(
        task.parent().is_none(),
        "a background run starts a new trace"
    );
    let links = task.follows_from();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].id(), recorder.span("request").id());
    assert_eq!(links[0].name(), "request");
}

#[tokio::test]
async fn run_background_without_a_current_span_has_no_link() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("cleanup");
    tasks.run_background(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert!(task.parent().is_none());
    assert!(task.follows_from().is_empty());
}

#[tokio::test]
async fn an_error_is_exactly_one_error_event_with_an_error_field_in_the_task_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("failing");
    tasks.run(&Context::background(), fails_with(|| "boom".into()));
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_finished_task_span(&task, "failing");
    assert_eq!(task.events().len(), 1);
    let event = &task.events()[0];
    assert_eq!(event.level(), Level::ERROR);
    assert_eq!(event.field("error"), Some("boom"));
    assert_eq!(event.field("panic"), None);
    assert_eq!(recorder.events().len(), 1, "reported once, nowhere else");
}

#[tokio::test]
async fn a_failure_records_the_otel_status_fields() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("failing");
    tasks.run(&Context::background(), fails_with(|| "boom".into()));
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("kaboom") }),
    );
    wait_bounded(&tasks).await;

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    for (span, message) in spans.iter().zip(["boom", "kaboom"]) {
        assert_eq!(span.field("otel.status_code"), Some("ERROR"));
        assert_eq!(span.field("otel.status_description"), Some(message));
        assert!(matches!(span.status(), Status::Error(_)));
    }
}

#[tokio::test]
async fn a_failure_status_carries_the_message_as_opentelemetry_reads_it() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("failing");
    tasks.run(&Context::background(), fails_with(|| "boom".into()));
    wait_bounded(&tasks).await;

    assert_eq!(recorder.span("task").status(), Status::Error("boom".into()));
}

#[tokio::test]
async fn canceled_is_not_reported_also_when_it_is_a_source() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("quiet");
    tasks.run(
        &Context::background(),
        fails_with(|| ContextError::Canceled.into()),
    );
    tasks.run(
        &Context::background(),
        fails_with(|| Wrapped(ContextError::Canceled).into()),
    );
    wait_bounded(&tasks).await;

    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_finished_task_span(span, "quiet");
        assert_eq!(span.status(), Status::Unset);
        assert_eq!(span.field("otel.status_code"), None);
    }
    assert!(recorder.events().is_empty(), "{}", recorder.tree());
}

#[tokio::test]
async fn deadline_exceeded_is_reported_also_when_it_is_a_source() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("late");
    tasks.run(
        &Context::background(),
        fails_with(|| ContextError::DeadlineExceeded.into()),
    );
    tasks.run(
        &Context::background(),
        fails_with(|| Wrapped(ContextError::DeadlineExceeded).into()),
    );
    wait_bounded(&tasks).await;

    let errors: Vec<_> = recorder
        .events()
        .iter()
        .map(|event| (event.level(), event.field("error").map(str::to_owned)))
        .collect();
    assert_eq!(
        errors,
        [
            (Level::ERROR, Some("context deadline exceeded".to_owned())),
            (
                Level::ERROR,
                Some("query aborted: context deadline exceeded".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn a_panic_is_one_error_event_with_a_panic_field() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("panicky");
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("kaboom {}", 7) }),
    );
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_finished_task_span(&task, "panicky");
    assert_eq!(task.events().len(), 1);
    let event = &task.events()[0];
    assert_eq!(event.level(), Level::ERROR);
    assert!(
        event.field("panic").is_some_and(|p| p.contains("kaboom 7")),
        "{event:?}"
    );
    assert_eq!(event.field("error"), None);
    assert_eq!(recorder.events().len(), 1);
}

#[tokio::test]
async fn a_panic_before_the_runners_future_is_reported_too() {
    fn panics_when_called(_ctx: Context) -> std::future::Ready<Result<(), BoxError>> {
        panic!("panicked before its future")
    }

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("eager");
    tasks.run(&Context::background(), Func::new(panics_when_called));
    wait_bounded(&tasks).await;

    let task = recorder.span("task");
    assert_eq!(task.events().len(), 1, "{}", recorder.tree());
    let panic = task.events()[0].field("panic");
    assert_eq!(panic, Some("panicked before its future"));
}

#[tokio::test]
async fn a_panic_ends_a_loop_after_one_report() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("loop");
    let iterations = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&iterations);
    tasks.run_loop(
        &Context::background(),
        Func::new(move |_ctx| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                assert!(n < 2, "iteration {n} panics");
                Ok(())
            }
        }),
    );
    wait_bounded(&tasks).await;

    assert_eq!(iterations.load(Ordering::SeqCst), 2);
    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    assert!(spans[0].events().is_empty());
    assert_eq!(spans[1].events().len(), 1);
    assert_eq!(
        spans[1].events()[0].field("panic"),
        Some("iteration 2 panics")
    );
}

#[tokio::test]
async fn an_error_ends_a_loop_after_one_report() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("loop");
    let iterations = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&iterations);
    tasks.run_loop(
        &Context::background(),
        Func::new(move |_ctx| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 3 {
                    return Err(format!("failed at {n}").into());
                }
                Ok(())
            }
        }),
    );
    wait_bounded(&tasks).await;

    assert_eq!(iterations.load(Ordering::SeqCst), 3);
    assert_eq!(recorder.spans_named("task").len(), 3);
    let events = recorder.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].field("error"), Some("failed at 3"));
}

#[tokio::test]
async fn the_tree_of_a_request_that_runs_a_failing_task() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("sync-users");
    let request = tracing::info_span!("request", path = "/sync");
    request.in_scope(|| {
        tasks.run(
            &Context::background(),
            Func::new(|_ctx| async {
                async { tracing::info!(rows = 2, "fetched") }
                    .instrument(tracing::info_span!("fetch", page = 1))
                    .await;
                Err("upstream returned 503".into())
            }),
        );
        tracing::info!("accepted");
    });
    drop(request);
    wait_bounded(&tasks).await;

    assert_eq!(
        recorder.tree(),
        r#"request path="/sync"
  task task.name="sync-users" otel.name="sync-users" otel.status_code="ERROR" otel.status_description="upstream returned 503"
    fetch page="1"
      INFO fetched rows="2"
    ERROR task "sync-users" failed: upstream returned 503 task="sync-users" tasks="sync-users" error="upstream returned 503"
  INFO accepted
"#
    );
}

#[test]
fn the_same_spans_on_a_multi_thread_runtime() {
    let recorder = SpanRecorder::new();
    let dispatch = recorder.dispatch();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap();

    let tasks = Tasks::new("workers");
    tracing::dispatcher::with_default(&recorder.dispatch(), || {
        runtime.block_on(async {
            let request = tracing::info_span!("request");
            request.in_scope(|| {
                for _ in 0..4 {
                    tasks.run(&Context::background(), fails_with(|| "boom".into()));
                }
            });
            wait_bounded(&tasks).await;
        });
    });

    let request_id = recorder.span("request").id();
    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 4);
    for span in &spans {
        assert_finished_task_span(span, "workers");
        assert_eq!(span.parent().map(|p| p.id()), Some(request_id));
        assert_eq!(span.events().len(), 1, "{}", recorder.tree());
        assert_eq!(span.events()[0].field("error"), Some("boom"));
    }
}

#[tokio::test]
async fn a_set_with_root_spans_starts_a_trace_per_run_linked_to_its_start() {
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs").with_root_spans();
    let queue = jobs.pool("queue", 2); // inherits it, as a child of `jobs`
    let (ctx, cancel) = Context::background().with_cancel();
    let dispatcher = tracing::info_span!("dispatcher");
    async {
        svc.run(&ctx, Func::named("own", |_ctx| async { Ok(()) }));
        jobs.run(&ctx, Func::named("job", |_ctx| async { Ok(()) }));
        let spawned = jobs.spawn(&ctx, "spawned", |_ctx| async { Ok::<_, BoxError>(()) });
        // One iteration, ended by `StopLoop`: its span is a root too.
        jobs.run_loop(
            &ctx,
            Func::named("poll", |_ctx| async {
                Err(async_tasks::task::StopLoop.into())
            }),
        );
        queue
            .run(&ctx, Func::named("pooled", |_ctx| async { Ok(()) }))
            .await
            .unwrap();
        spawned.await.unwrap();
    }
    .instrument(dispatcher.clone())
    .await;
    cancel.cancel();
    timeout(Duration::from_secs(5), svc.wait()).await.unwrap();
    let runs = recorder.spans_named("task");
    assert_eq!(runs.len(), 5, "{runs:?}");
    for run in &runs {
        let own = run.field("task.name") == Some("svc");
        if own {
            // A set without the option: a child of the span that started it.
            assert_eq!(
                run.parent().map(|p| p.name()),
                Some("dispatcher"),
                "{run:?}"
            );
            assert!(run.follows_from().is_empty(), "{run:?}");
        } else {
            assert!(run.parent().is_none(), "a trace of its own: {run:?}");
            let links: Vec<_> = run.follows_from().iter().map(|s| s.name()).collect();
            assert_eq!(links, ["dispatcher"], "{run:?}");
        }
    }
}

#[tokio::test]
async fn a_pool_with_root_spans_starts_a_trace_per_job_queued_or_not() {
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let jobs = svc.pool("jobs", 1).queue(1).with_root_spans();
    let (ctx, cancel) = Context::background().with_cancel();
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let dispatcher = tracing::info_span!("dispatcher");
    async {
        // The first job takes the only slot until it is released; the second waits in
        // the queue, so it starts later, from the pool's own dispatch, not this span.
        let first = jobs
            .try_spawn(&ctx, "first", |_ctx| async move {
                let _ = held.await;
                Ok::<_, BoxError>(())
            })
            .unwrap();
        let second = jobs
            .try_spawn(&ctx, "second", |_ctx| async { Ok::<_, BoxError>(()) })
            .unwrap();
        release.send(()).unwrap();
        first.await.unwrap();
        second.await.unwrap();
        svc.run(&ctx, Func::named("own", |_ctx| async { Ok(()) }));
    }
    .instrument(dispatcher.clone())
    .await;
    cancel.cancel();
    timeout(Duration::from_secs(5), svc.wait()).await.unwrap();
    let runs = recorder.spans_named("task");
    assert_eq!(runs.len(), 3, "{runs:?}");
    for run in &runs {
        if run.field("task.name") == Some("svc") {
            // The pool's option is the pool's: its parent set keeps its runs' parents.
            assert_eq!(
                run.parent().map(|p| p.name()),
                Some("dispatcher"),
                "{run:?}"
            );
        } else {
            assert_eq!(run.field("task.name"), Some("jobs"), "{run:?}");
            assert!(run.parent().is_none(), "a trace of its own: {run:?}");
            let links: Vec<_> = run.follows_from().iter().map(|s| s.name()).collect();
            assert_eq!(links, ["dispatcher"], "{run:?}");
        }
    }
}
