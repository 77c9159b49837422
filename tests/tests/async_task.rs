//! `#[async_task]` at run time, with spans recorded by `async_tasks::testing::SpanRecorder`.
//!
//! Covers:
//! - each run is one span named by `name` (or after the fn), at INFO by default or at the
//!   `level` given, a child of the `Tasks`' `"task"` span (or of whatever span is current),
//!   entered for the whole body (across awaits) and closed at its end, with the
//!   `fields(...)` given (also ones using the args, and `Empty` ones recorded later);
//! - the runner's `name()` is the span name, so shutdown reports use it;
//! - an error sets `error` and the OpenTelemetry status on the call span, without an event
//!   (the `"task"` span reports it once); a canceled run leaves the call span clean;
//! - a panic sets `panic` and the status on the call span, then propagates with its
//!   original payload, and the `Tasks` reports it;
//! - every run gets its own clone of the arguments (one clone per run), so `run_loop` can
//!   run the same runner again;
//! - the attribute in a module, on a `pub` fn called from another module, and on calls
//!   nested in calls;
//! - methods: a `&self` task's runner keeps one clone of `self` and each run gets its own
//!   (one clone per run), `fields(...)` may use `self`, and the runner outlives the value
//!   it was made from; a `self: Arc<Self>` task keeps the `Arc` and never clones `Self`;
//! - `target = "..."` sets the span's target;
//! - `examples/examples/service.rs` (included here, with its own test): a service whose
//!   tasks are `&self` methods, each run in its own span under its `"task"` span.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::testing::{RecordedSpan, SpanRecorder, Status};
use async_tasks::{BoxError, Context, Runner, Tasks, async_task};
use futures_util::FutureExt;
use tokio::time::timeout;
use tracing::Level;

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// Asserts a call span's lifecycle: entered as often as exited (at least once) and closed.
#[track_caller]
fn assert_finished(span: &RecordedSpan) {
    assert!(span.enter_count() >= 1, "never entered: {span:?}");
    assert_eq!(span.enter_count(), span.exit_count(), "{span:?}");
    assert!(span.is_closed(), "not closed: {span:?}");
}

/// Whether the span carries none of the failure fields.
fn is_clean(span: &RecordedSpan) -> bool {
    [
        "error",
        "panic",
        "otel.status_code",
        "otel.status_description",
    ]
    .iter()
    .all(|name| span.field(name).is_none())
        && span.status() == Status::Unset
}

#[derive(Clone, Debug)]
struct Db {
    name: &'static str,
}

#[async_task(name = "sync-users", fields(db.name = db.name, batch, rows = tracing::field::Empty))]
async fn sync_users(ctx: Context, db: Db, batch: usize) -> Result<(), BoxError> {
    tracing::info!(db = db.name, "before the pause");
    async_tasks::sleep(&ctx, Duration::from_secs(1)).await?;
    tracing::Span::current().record("rows", batch * 2);
    tracing::info!("after the pause");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_run_is_one_span_under_the_task_span_for_the_whole_body() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("users");
    tasks.run(
        &Context::background(),
        sync_users(Db { name: "primary" }, 500),
    );
    wait_bounded(&tasks).await;

    let call = recorder.span("sync-users");
    assert_finished(&call);
    assert!(call.enter_count() >= 2, "entered again after the pause");
    assert_eq!(call.level(), Level::INFO);
    assert_eq!(call.target(), module_path!());
    assert_eq!(
        call.parent().map(|p| p.id()),
        Some(recorder.span("task").id())
    );
    assert_eq!(call.field("db.name"), Some("primary"));
    assert_eq!(
        call.field("batch"),
        None,
        "a key alone declares an empty field"
    );
    assert_eq!(call.field("rows"), Some("1000"));
    assert!(is_clean(&call), "{call:?}");
    let messages: Vec<_> = call.events().iter().map(|e| e.message()).collect();
    assert_eq!(
        messages,
        [Some("before the pause"), Some("after the pause")]
    );
    assert_eq!(
        recorder.tree(),
        "\
task task.name=\"users\" otel.name=\"users\"
  sync-users db.name=\"primary\" rows=\"1000\"
    INFO before the pause db=\"primary\"
    INFO after the pause
"
    );
}

#[async_task]
async fn unnamed(_ctx: Context) {}

#[async_task(name = "quiet", level = "debug")]
async fn quiet(_ctx: Context) {}

#[tokio::test]
async fn name_defaults_to_the_fn_and_level_is_taken_from_the_attribute() {
    let recorder = SpanRecorder::install();
    let ctx = Context::background();
    unnamed().run(ctx.clone()).await.unwrap();
    quiet().run(ctx).await.unwrap();

    let unnamed = recorder.span("unnamed");
    assert_eq!(unnamed.level(), Level::INFO);
    assert!(unnamed.parent().is_none(), "no span was current");
    assert_finished(&unnamed);
    let quiet = recorder.span("quiet");
    assert_eq!(quiet.level(), Level::DEBUG);
    assert_finished(&quiet);
}

#[tokio::test]
async fn the_runner_is_named_after_the_span_and_clones_alike() {
    let runner = sync_users(Db { name: "primary" }, 1);
    assert_eq!(runner.name(), Some("sync-users"));
    assert_eq!(runner.clone().name(), Some("sync-users"));
    assert_eq!(unnamed().name(), Some("unnamed"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_reports_a_stuck_call_by_its_span_name() {
    #[async_task(name = "stuck")]
    async fn stuck(_ctx: Context) {
        // Ignores its context on purpose.
        tokio::time::sleep(LIMIT).await;
    }

    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), stuck());
    let err = tasks.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.names(), ["stuck"]);
}

#[async_task(name = "fetch-page")]
async fn fetch_page(_ctx: Context, page: u32) -> anyhow::Result<()> {
    anyhow::bail!("page {page}: upstream returned 503")
}

#[tokio::test]
async fn an_error_is_recorded_on_the_call_span_and_reported_once_by_the_task() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("pages");
    tasks.run(&Context::background(), fetch_page(2));
    wait_bounded(&tasks).await;

    let call = recorder.span("fetch-page");
    assert_finished(&call);
    let message = "page 2: upstream returned 503";
    assert_eq!(call.field("error"), Some(message));
    assert_eq!(call.field("otel.status_code"), Some("ERROR"));
    assert_eq!(call.field("otel.status_description"), Some(message));
    assert_eq!(call.status(), Status::Error(message.into()));
    assert_eq!(call.field("panic"), None);

    // The task reports it once, inside the call that failed, naming the runner.
    let task = recorder.span("task");
    assert_eq!(task.status(), Status::Error(message.into()));
    assert!(task.events().is_empty(), "{}", recorder.tree());
    assert_eq!(call.events().len(), 1, "{}", recorder.tree());
    let event = &call.events()[0];
    assert_eq!(event.level(), Level::ERROR);
    assert_eq!(event.field("error"), Some(message));
    assert_eq!(event.field("task"), Some("fetch-page"));
    assert_eq!(event.field("tasks"), Some("pages"));
    assert_eq!(
        event.message(),
        Some("task \"fetch-page\" failed: page 2: upstream returned 503")
    );
    assert_eq!(recorder.events().len(), 1, "one report in all");
}

#[tokio::test]
async fn the_error_is_returned_to_a_direct_caller_as_it_was() {
    let err = fetch_page(7).run(Context::background()).await.unwrap_err();
    assert_eq!(err.to_string(), "page 7: upstream returned 503");
}

#[async_task(name = "canceled")]
async fn canceled(ctx: Context) -> Result<(), BoxError> {
    ctx.done().await;
    Err(ctx.err().map_or_else(|| "not done".into(), BoxError::from))
}

#[tokio::test]
async fn a_canceled_run_leaves_the_call_span_clean() {
    let recorder = SpanRecorder::install();
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let err = canceled().run(ctx).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<ContextError>(),
        Some(&ContextError::Canceled)
    );

    let call = recorder.span("canceled");
    assert_finished(&call);
    assert!(is_clean(&call), "{call:?}");
}

#[tokio::test(start_paused = true)]
async fn a_missed_deadline_is_a_failure() {
    let recorder = SpanRecorder::install();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
    let _ = canceled().run(ctx).await.unwrap_err();
    let call = recorder.span("canceled");
    assert_eq!(call.field("error"), Some("context deadline exceeded"));
    assert_eq!(call.field("otel.status_code"), Some("ERROR"));
}

#[async_task(name = "explode")]
async fn explode(_ctx: Context, code: u32) {
    if code > 0 {
        panic!("exploded with {code}");
    }
}

#[tokio::test]
async fn a_panic_is_recorded_on_the_call_span_and_propagates_unchanged() {
    let recorder = SpanRecorder::install();
    let runner = explode(3);
    let payload = AssertUnwindSafe(runner.run(Context::background()))
        .catch_unwind()
        .await
        .expect_err("the panic propagates");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("exploded with 3"),
        "the original payload"
    );

    let call = recorder.span("explode");
    assert_finished(&call);
    assert_eq!(call.field("panic"), Some("exploded with 3"));
    assert_eq!(call.field("otel.status_code"), Some("ERROR"));
    assert_eq!(call.status(), Status::Error("exploded with 3".into()));
    assert_eq!(call.field("error"), None);
    assert!(call.events().is_empty());
}

#[tokio::test]
async fn a_panic_under_tasks_is_reported_by_the_task_inside_the_call_span() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("boom");
    tasks.run(&Context::background(), explode(1));
    wait_bounded(&tasks).await;

    let call = recorder.span("explode");
    assert_eq!(call.field("panic"), Some("exploded with 1"));
    assert_eq!(
        call.parent().map(|p| p.id()),
        Some(recorder.span("task").id())
    );
    // Reported once, by the task, inside the call that panicked, as a failure is.
    let task = recorder.span("task");
    assert!(task.events().is_empty(), "{}", recorder.tree());
    assert_eq!(call.events().len(), 1);
    assert_eq!(call.events()[0].field("panic"), Some("exploded with 1"));
    assert_eq!(call.events()[0].field("task"), Some("explode"));
    assert_eq!(task.field("otel.status_code"), Some("ERROR"));
}

/// Counts how often it is cloned.
#[derive(Debug)]
struct Counted {
    clones: Arc<AtomicUsize>,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Counted {
            clones: Arc::clone(&self.clones),
        }
    }
}

#[async_task(name = "iteration")]
async fn iteration(
    _ctx: Context,
    counted: Counted,
    mut seen: Vec<usize>,
    runs: Arc<AtomicUsize>,
) -> Result<(), String> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    seen.push(run);
    // Each run starts from the arguments as given, not from the last run's leftovers.
    if seen != [run] {
        return Err(format!("run {run} saw {seen:?}"));
    }
    if run == 3 {
        return Err(format!("stop after {run} runs, {counted:?}"));
    }
    Ok(())
}

#[tokio::test]
async fn each_loop_iteration_gets_a_fresh_clone_of_the_arguments() {
    let recorder = SpanRecorder::install();
    let clones = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        clones: Arc::clone(&clones),
    };
    let tasks = Tasks::new("loop");
    tasks.run_loop(
        &Context::background(),
        iteration(counted, Vec::new(), Arc::clone(&runs)),
    );
    wait_bounded(&tasks).await;

    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        clones.load(Ordering::SeqCst),
        3,
        "one clone per run, no more"
    );
    let calls = recorder.spans_named("iteration");
    assert_eq!(calls.len(), 3);
    let tasks_spans = recorder.spans_named("task");
    for (call, task) in calls.iter().zip(&tasks_spans) {
        assert_finished(call);
        assert_eq!(call.parent().map(|p| p.id()), Some(task.id()));
    }
    let last = &calls[2];
    assert!(
        last.field("error")
            .is_some_and(|e| e.starts_with("stop after 3 runs")),
        "{last:?}"
    );
    assert!(calls[..2].iter().all(is_clean));
}

mod jobs {
    use async_tasks::{Context, Runner, async_task};

    /// A task in a module, public to the crate's other modules.
    #[async_task(name = "jobs-cleanup")]
    pub async fn cleanup(ctx: Context, days: u32) -> Result<(), String> {
        super::helpers::inner(days)
            .run(ctx)
            .await
            .map_err(|e| e.to_string())
    }
}

mod helpers {
    use async_tasks::{Context, async_task};

    #[async_task(name = "helpers-inner", fields(days))]
    pub(crate) async fn inner(_ctx: Context, days: u32) {
        tracing::Span::current().record("days", days);
    }
}

mod wiring {
    use async_tasks::{Context, Tasks};

    pub(crate) fn start(tasks: &Tasks) {
        tasks.run(&Context::background(), super::jobs::cleanup(30));
    }
}

#[tokio::test]
async fn tasks_in_modules_nest_when_one_runs_another() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("jobs");
    wiring::start(&tasks);
    wait_bounded(&tasks).await;

    assert_eq!(
        recorder.tree(),
        "\
task task.name=\"jobs\" otel.name=\"jobs\"
  jobs-cleanup
    helpers-inner days=\"30\"
"
    );
    let cleanup = recorder.span("jobs-cleanup");
    let inner = recorder.span("helpers-inner");
    assert_eq!(inner.parent().map(|p| p.id()), Some(cleanup.id()));
    assert_finished(&cleanup);
    assert_finished(&inner);
}

/// A service whose task is a `&self` method: `clones` counts the clones of it.
#[derive(Clone, Debug)]
struct Poller {
    name: &'static str,
    clones: Counted,
    runs: Arc<AtomicUsize>,
}

impl Poller {
    #[async_task(name = "poller-poll", fields(poller = self.name, run))]
    async fn poll(&self, _ctx: Context) -> Result<(), BoxError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::Span::current().record("run", run);
        if run == 3 {
            return Err(async_tasks::task::StopLoop.into());
        }
        Ok(())
    }

    #[async_task(name = "poller-shared")]
    async fn shared(self: Arc<Self>, _ctx: Context) -> Result<(), String> {
        // The caller's `Arc`, the runner's, and this run's.
        match Arc::strong_count(&self) {
            3 => Ok(()),
            count => Err(format!("{count} strong references")),
        }
    }
}

#[tokio::test]
async fn a_method_task_keeps_a_clone_of_self_and_each_run_gets_its_own() {
    let recorder = SpanRecorder::install();
    let clones = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks = Tasks::new("poller");
    let runner = {
        let poller = Poller {
            name: "primary",
            clones: Counted {
                clones: Arc::clone(&clones),
            },
            runs: Arc::clone(&runs),
        };
        poller.poll()
    };
    assert_eq!(clones.load(Ordering::SeqCst), 1, "the runner's own clone");
    // The runner outlives the poller it was made from.
    tasks.run_loop(&Context::background(), runner);
    wait_bounded(&tasks).await;

    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        clones.load(Ordering::SeqCst),
        1 + 3,
        "and one per run, no more"
    );
    let calls = recorder.spans_named("poller-poll");
    assert_eq!(calls.len(), 3);
    for (i, (call, task)) in calls.iter().zip(recorder.spans_named("task")).enumerate() {
        assert_finished(call);
        assert_eq!(call.parent().map(|p| p.id()), Some(task.id()));
        assert_eq!(
            call.field("poller"),
            Some("primary"),
            "`self` in `fields(...)`"
        );
        assert_eq!(call.field("run"), Some((i + 1).to_string().as_str()));
        // The third ends the loop with `StopLoop`: a quiet end, not a failure.
        assert!(is_clean(call), "{call:?}");
    }
}

#[tokio::test]
async fn an_arc_self_task_keeps_the_arc_and_each_run_a_clone_of_it() {
    let poller = Arc::new(Poller {
        name: "shared",
        clones: Counted {
            clones: Arc::default(),
        },
        runs: Arc::default(),
    });
    let runner = Arc::clone(&poller).shared();
    assert_eq!(Arc::strong_count(&poller), 2);
    runner.run(Context::background()).await.unwrap();
    assert_eq!(Arc::strong_count(&poller), 2, "the run's clone is dropped");
    assert_eq!(
        poller.clones.clones.load(Ordering::SeqCst),
        0,
        "`Self` is never cloned"
    );
}

#[async_task(name = "charge", target = "billing")]
async fn charge(_ctx: Context) {}

#[tokio::test]
async fn target_sets_the_span_target() {
    let recorder = SpanRecorder::install();
    charge().run(Context::background()).await.unwrap();
    let call = recorder.span("charge");
    assert_eq!(call.target(), "billing");
    assert_finished(&call);
}

/// `examples/examples/service.rs`, whose own test runs here too.
#[allow(dead_code)]
#[path = "../../examples/examples/service.rs"]
mod service_example;

#[tokio::test]
async fn the_service_example_indexes_each_document_in_a_span_of_its_own() {
    let recorder = SpanRecorder::install();
    let report = service_example::index_documents().await;
    assert_eq!(report[0], "indexed 3 documents, 25 words");

    let runs = recorder.spans_named("index");
    assert_eq!(runs.len(), 3, "one run per document");
    let words: Vec<_> = runs.iter().map(|run| run.field("words")).collect();
    assert_eq!(words, [Some("8"), Some("8"), Some("9")]);
    for (run, task) in runs.iter().zip(recorder.spans_named("task")) {
        assert_finished(run);
        assert!(is_clean(run), "{run:?}");
        assert_eq!(
            run.field("indexer"),
            Some("docs"),
            "`self` in `fields(...)`"
        );
        assert_eq!(run.parent().map(|p| p.id()), Some(task.id()));
    }
}
