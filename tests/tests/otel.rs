//! `Tasks` traced through `tracing-opentelemetry` into `opentelemetry_sdk`'s in-memory
//! exporter: what a collector would receive.
//!
//! Covers, by exported span data:
//! - a run inside a request span shares the request's trace id and has it as parent; the
//!   exported name is the `Tasks`' name (`otel.name`), and `task.name` is an attribute;
//! - every loop iteration is its own span, each a child of the caller's;
//! - `run_background` starts a new trace, linked to the caller's span;
//! - an `#[async_task]` call is a span named by the attribute, a child of the run's span;
//! - a failed run and a panicked run export status Error, with the ERROR event on the span;
//!   a canceled run exports status Unset and no event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use opentelemetry::trace::{SpanId, Status, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::time::timeout;
use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

const LIMIT: Duration = Duration::from_secs(3600);

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// A tracing subscriber that exports every span to memory as it ends, installed on this
/// thread while the value lives.
struct Exported {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _installed: DefaultGuard,
}

impl Exported {
    fn install() -> Exported {
        let exporter = InMemorySpanExporter::default();
        // The simple processor exports each span when it ends, so no flush is needed.
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-test"));
        // A second live dispatcher for the whole binary, so that tracing combines callsite
        // interest over all of them instead of caching "never" from a thread without a
        // subscriber (tokio-rs/tracing#3611); `SpanRecorder` does the same.
        static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        ANCHOR.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let installed = tracing::subscriber::set_default(Registry::default().with(layer));
        Exported {
            exporter,
            _provider: provider,
            _installed: installed,
        }
    }

    /// The ended spans, in the order they ended.
    fn spans(&self) -> Vec<SpanData> {
        self.exporter
            .get_finished_spans()
            .expect("the exporter is up")
    }

    /// The one ended span named `name`.
    #[track_caller]
    fn span(&self, name: &str) -> SpanData {
        let mut named = self.spans_named(name);
        assert_eq!(named.len(), 1, "spans named {name}: {named:#?}");
        named.remove(0)
    }

    fn spans_named(&self, name: &str) -> Vec<SpanData> {
        let spans = self.spans().into_iter();
        spans.filter(|span| span.name == name).collect()
    }
}

fn trace_id(span: &SpanData) -> TraceId {
    span.span_context.trace_id()
}

fn span_id(span: &SpanData) -> SpanId {
    span.span_context.span_id()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    let attribute = span.attributes.iter().find(|kv| kv.key.as_str() == key);
    attribute.map(|kv| kv.value.to_string())
}

fn fails_with(message: &'static str) -> impl Runner {
    Func::new(move |_ctx| std::future::ready(Err(message.into())))
}

#[tokio::test]
async fn a_run_inside_a_request_is_a_child_span_named_after_the_tasks() {
    let otel = Exported::install();
    let tasks = Tasks::new("sync-users");
    let request = tracing::info_span!("request");
    request.in_scope(|| tasks.run(&Context::background(), Func::new(|_ctx| async { Ok(()) })));
    drop(request);
    wait_bounded(&tasks).await;

    let request = otel.span("request");
    let task = otel.span("sync-users");
    assert_eq!(trace_id(&task), trace_id(&request));
    assert_eq!(task.parent_span_id, span_id(&request));
    assert_eq!(request.parent_span_id, SpanId::INVALID);
    assert_eq!(attribute(&task, "task.name").as_deref(), Some("sync-users"));
    assert_eq!(task.status, Status::Unset);
    assert!(
        otel.spans_named("task").is_empty(),
        "`otel.name` renames it"
    );
}

#[tokio::test(start_paused = true)]
async fn every_loop_iteration_is_its_own_span_in_the_callers_trace() {
    let otel = Exported::install();
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
                    cancel.cancel();
                }
                async move {
                    async_tasks::sleep(&ctx, Duration::from_secs(1)).await?;
                    Ok(())
                }
            }),
        );
    });
    drop(request);
    wait_bounded(&tasks).await;

    assert_eq!(iterations.load(Ordering::SeqCst), 3);
    let request = otel.span("request");
    let iterations = otel.spans_named("poller");
    assert_eq!(iterations.len(), 3);
    for iteration in &iterations {
        assert_eq!(trace_id(iteration), trace_id(&request));
        assert_eq!(iteration.parent_span_id, span_id(&request));
        assert_eq!(iteration.status, Status::Unset, "cancellation is no error");
    }
    let mut ids: Vec<_> = iterations.iter().map(span_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct spans");
}

#[tokio::test]
async fn run_background_starts_a_new_trace_linked_to_the_callers_span() {
    let otel = Exported::install();
    let tasks = Tasks::new("cleanup");
    let request = tracing::info_span!("request");
    request.in_scope(|| {
        tasks.run_background(&Context::background(), Func::new(|_ctx| async { Ok(()) }));
    });
    drop(request);
    wait_bounded(&tasks).await;

    let request = otel.span("request");
    let task = otel.span("cleanup");
    assert_ne!(trace_id(&task), trace_id(&request), "a new trace");
    assert_eq!(task.parent_span_id, SpanId::INVALID, "a root span");
    let links = &task.links.links;
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].span_context.trace_id(), trace_id(&request));
    assert_eq!(links[0].span_context.span_id(), span_id(&request));
}

#[async_tasks::async_task(name = "fetch-users")]
async fn fetch_users(_ctx: Context, page: u32) -> Result<(), BoxError> {
    Err(format!("page {page}: upstream returned 503").into())
}

#[tokio::test]
async fn an_async_task_call_is_a_span_named_by_the_attribute_under_the_task_span() {
    let otel = Exported::install();
    let tasks = Tasks::new("users");
    let request = tracing::info_span!("request");
    request.in_scope(|| tasks.run(&Context::background(), fetch_users(2)));
    drop(request);
    wait_bounded(&tasks).await;

    let request = otel.span("request");
    let task = otel.span("users");
    let call = otel.span("fetch-users");
    assert_eq!(
        call.parent_span_id,
        span_id(&task),
        "the call is a child of the run"
    );
    assert_eq!(trace_id(&call), trace_id(&request));
    assert!(
        matches!(call.status, Status::Error { .. }),
        "{:?}",
        call.status
    );
    assert_eq!(
        attribute(&call, "error").as_deref(),
        Some("page 2: upstream returned 503")
    );
    // The task reports the failure inside the call that failed, as `#[instrument(err)]`
    // would: one event, on the call span, whose fields are on the line.
    assert_eq!(call.events.events.len(), 1);
    assert!(task.events.events.is_empty());
}

#[tokio::test]
async fn a_failed_run_exports_status_error_and_its_error_event() {
    let otel = Exported::install();
    let tasks = Tasks::new("failing");
    tasks.run(&Context::background(), fails_with("boom"));
    wait_bounded(&tasks).await;

    let task = otel.span("failing");
    assert!(
        matches!(task.status, Status::Error { .. }),
        "{:?}",
        task.status
    );
    let events = &task.events.events;
    assert_eq!(events.len(), 1);
    let error = events[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "error");
    assert_eq!(
        error.map(|kv| kv.value.to_string()).as_deref(),
        Some("boom")
    );
}

#[tokio::test]
async fn a_panicked_run_exports_status_error_and_its_panic_event() {
    let otel = Exported::install();
    let tasks = Tasks::new("panicky");
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("kaboom") }),
    );
    wait_bounded(&tasks).await;

    let task = otel.span("panicky");
    assert!(
        matches!(task.status, Status::Error { .. }),
        "{:?}",
        task.status
    );
    let events = &task.events.events;
    assert_eq!(events.len(), 1);
    let panic = events[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "panic");
    assert_eq!(
        panic.map(|kv| kv.value.to_string()).as_deref(),
        Some("kaboom")
    );
}

#[tokio::test]
async fn a_failed_or_panicked_run_exports_its_message_as_the_status_description() {
    let otel = Exported::install();
    let failing = Tasks::new("failing");
    failing.run(&Context::background(), fails_with("boom"));
    let panicky = Tasks::new("panicky");
    panicky.run(
        &Context::background(),
        Func::new(|_ctx| async { panic!("kaboom") }),
    );
    wait_bounded(&failing).await;
    wait_bounded(&panicky).await;

    assert_eq!(otel.span("failing").status, Status::error("boom"));
    assert_eq!(otel.span("panicky").status, Status::error("kaboom"));
}

#[tokio::test]
async fn a_canceled_run_exports_no_error() {
    let otel = Exported::install();
    let tasks = Tasks::new("canceled");
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { Err(ContextError::Canceled.into()) }),
    );
    wait_bounded(&tasks).await;

    let task = otel.span("canceled");
    assert_eq!(task.status, Status::Unset);
    assert!(task.events.events.is_empty());
}
