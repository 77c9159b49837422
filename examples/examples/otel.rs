//! Tasks traced into OpenTelemetry: a request runs a task, a poller loop, a background job
//! and an `#[async_task]` call that fails; the exported spans are then printed as a tree,
//! trace by trace.
//!
//! ```text
//! cargo run -p async-tasks-examples --example otel
//! ```
//!
//! The wiring is what a service uses, except the exporter: there, replace the in-memory
//! exporter with an OTLP one (the `opentelemetry-otlp` crate) behind
//! `with_batch_exporter`, and keep the provider to `shutdown()` it on exit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_tasks::{BoxError, Context, Func, Tasks, async_task, sleep};
use opentelemetry::trace::{Event, SpanId, Status, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-example"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))
        .expect("no other subscriber was set");

    serve_one_request().await;

    provider.force_flush().expect("the exporter is up");
    let spans = exporter.get_finished_spans().expect("the exporter is up");
    // tracing-opentelemetry ends a span at its last exit: the request's span is short (the
    // handler returned at once) while its tasks, its children, ran on.
    println!(
        "{} spans exported: name [status] duration, one tree per trace",
        spans.len()
    );
    print!("{}", render(&spans));
}

/// What a handler does: starts work in its request's span and returns.
async fn serve_one_request() {
    let sync = Tasks::new("sync-users");
    let poller = Tasks::new("poll-queue");
    let cleanup = Tasks::new("cleanup");
    let mail = Tasks::new("send-email");
    let (ctx, cancel) = Context::background().with_cancel();

    let request = tracing::info_span!("request", otel.name = "GET /users");
    request.in_scope(|| {
        sync.run(
            &ctx,
            Func::new(|ctx| async move {
                sleep(&ctx, Duration::from_millis(20)).await?;
                Ok(())
            }),
        );

        let polls = AtomicUsize::new(0);
        let stop = cancel.clone();
        poller.run_loop(
            &ctx,
            Func::new(move |ctx| {
                if polls.fetch_add(1, Ordering::Relaxed) + 1 == 3 {
                    stop.cancel(); // the third poll is the last
                }
                async move {
                    sleep(&ctx, Duration::from_millis(10)).await?;
                    Ok(())
                }
            }),
        );

        cleanup.run_background(
            &ctx,
            Func::new(|ctx| async move {
                sleep(&ctx, Duration::from_millis(5)).await?;
                Ok(())
            }),
        );

        mail.run(&ctx, send_welcome_email("ada@example.com".to_owned()));
    });
    drop(request);

    for tasks in [&sync, &poller, &cleanup, &mail] {
        tasks.wait().await;
    }
}

/// A call traced by the attribute: its span is named `send_welcome_email` and fails with the
/// run.
#[async_task]
async fn send_welcome_email(_ctx: Context, to: String) -> Result<(), BoxError> {
    Err(format!("smtp: connection to {to} refused").into())
}

/// The spans as an indented tree per trace, roots and siblings in start order.
fn render(spans: &[SpanData]) -> String {
    let name_of: HashMap<SpanId, &str> = spans
        .iter()
        .map(|span| (span.span_context.span_id(), &*span.name))
        .collect();
    let mut by_start: Vec<&SpanData> = spans.iter().collect();
    by_start.sort_by_key(|span| span.start_time);

    let mut out = String::new();
    let roots = by_start
        .iter()
        .filter(|span| span.parent_span_id == SpanId::INVALID);
    for root in roots {
        let trace = short(root.span_context.trace_id());
        out.push_str(&format!("trace {trace}\n"));
        write_span(&mut out, root, &by_start, &name_of, 1);
    }
    out
}

fn write_span(
    out: &mut String,
    span: &SpanData,
    spans: &[&SpanData],
    name_of: &HashMap<SpanId, &str>,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let took = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let status = match &span.status {
        Status::Unset => "unset".to_owned(),
        Status::Ok => "ok".to_owned(),
        Status::Error { description } if description.is_empty() => "ERROR".to_owned(),
        Status::Error { description } => format!("ERROR: {description}"),
    };
    let failure = ["error", "panic"].into_iter().find_map(|key| {
        let kv = span.attributes.iter().find(|kv| kv.key.as_str() == key)?;
        Some(format!("  {key}={}", kv.value))
    });
    out.push_str(&format!(
        "{indent}{}  [{status}]  {took:.0?}{}\n",
        span.name,
        failure.unwrap_or_default()
    ));
    for link in &span.links.links {
        let to = link.span_context.span_id();
        let name = name_of.get(&to).copied().unwrap_or("?");
        let trace = short(link.span_context.trace_id());
        out.push_str(&format!(
            "{indent}  ↪ follows from {name} in trace {trace}\n"
        ));
    }
    // Events and child spans, in the order they happened.
    let id = span.span_context.span_id();
    let children = spans.iter().filter(|child| child.parent_span_id == id);
    let mut under: Vec<(SystemTime, Under<'_>)> = children
        .map(|child| (child.start_time, Under::Span(child)))
        .chain(span.events.iter().map(|e| (e.timestamp, Under::Event(e))))
        .collect();
    under.sort_by_key(|(at, _)| *at);
    for (_, item) in under {
        match item {
            Under::Span(child) => write_span(out, child, spans, name_of, depth + 1),
            Under::Event(event) => write_event(out, event, depth + 1),
        }
    }
}

enum Under<'a> {
    Span(&'a SpanData),
    Event(&'a Event),
}

fn write_event(out: &mut String, event: &Event, depth: usize) {
    let fields: Vec<String> = event
        .attributes
        .iter()
        // Level, target and source location are there too; keep the story.
        .filter(|kv| {
            let key = kv.key.as_str();
            !(matches!(key, "level" | "target") || key.starts_with("code."))
        })
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    let indent = "  ".repeat(depth);
    out.push_str(&format!("{indent}• {}: {}\n", event.name, fields.join(" ")));
}

/// The first 8 hex digits of a trace id: enough to tell traces apart by eye.
fn short(id: TraceId) -> String {
    id.to_string()[..8].to_owned()
}
