//! The main job: a small service that runs a queue poller, a few one-shot jobs and a
//! background refresher on one `Tasks`, prints what they do as they do it, and shuts down
//! with a grace period after a few seconds, or on Ctrl-C / SIGTERM (a second one exits at
//! once).
//!
//! ```text
//! cargo run -p async-tasks-examples --example quickstart
//! ```
//!
//! Every line is a tracing event or a span opening / closing: `task{…}` is the span each
//! run gets from `Tasks`, and `poll-queue`, `send-welcome-email`, `refresh-cache` are the
//! spans `#[async_task]` opens for each call. A `close` line says how long the span was
//! busy (polled) and idle (waiting).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_tasks::{BoxError, Context, Tasks, async_task, shutdown_on_signals, sleep};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{FmtSpan, Writer};

/// A pretend job queue: hands out numbered jobs.
#[derive(Clone, Default)]
struct Queue {
    next: Arc<AtomicU32>,
}

/// One iteration of the poller: take a job, work on it for a while.
#[async_task(name = "poll-queue")]
async fn poll_queue(ctx: Context, queue: Queue) -> Result<(), BoxError> {
    let job = queue.next.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::info!(job, "picked up a job");
    // Cut short (with `ContextError::Canceled`, which is not reported) at shutdown.
    sleep(&ctx, Duration::from_millis(700)).await?;
    tracing::info!(job, "job done");
    Ok(())
}

/// A one-shot job; one of them fails, to show how a failure is reported.
#[async_task(name = "send-welcome-email")]
async fn send_welcome_email(ctx: Context, user: &'static str) -> Result<(), BoxError> {
    sleep(&ctx, Duration::from_millis(300)).await?;
    if user == "mallory" {
        return Err(format!("mailbox of {user} is full").into());
    }
    tracing::info!(user, "welcome email sent");
    Ok(())
}

/// A background job: runs detached from the caller's context until shutdown.
#[async_task(name = "refresh-cache")]
async fn refresh_cache(ctx: Context) -> Result<(), BoxError> {
    let mut rounds = 0;
    while sleep(&ctx, Duration::from_secs(1)).await.is_ok() {
        rounds += 1;
        tracing::info!(rounds, "cache refreshed");
    }
    tracing::info!("cache refresher stopping");
    Ok(())
}

/// Formats fields as `name=value`, leaving out the `otel.*` ones.
struct WithoutOtelFields;

impl<'w> FormatFields<'w> for WithoutOtelFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visitor = FieldWriter {
            writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    result: std::fmt::Result,
    first: bool,
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

impl FieldWriter<'_> {
    fn write(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if self.result.is_err() || field.name().starts_with("otel.") {
            return;
        }
        let space = if self.first { "" } else { " " };
        self.first = false;
        self.result = match field.name() {
            "message" => write!(self.writer, "{space}{value}"),
            name => write!(self.writer, "{space}{name}={value}"),
        };
    }
}

#[tokio::main]
async fn main() {
    // Seconds since start, a line when each span opens and closes (with how long it was
    // busy and idle), and the `otel.*` fields, meant for OpenTelemetry, left out.
    tracing_subscriber::fmt()
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .fmt_fields(WithoutOtelFields)
        .compact()
        .init();

    let tasks = Tasks::new("quickstart");
    // Cancelled by the first Ctrl-C / SIGTERM, which also reaches the tasks through it.
    let ctx = shutdown_on_signals();

    tracing::info!("starting: a poller loop, three one-shot jobs and a background refresher");
    tasks.run_loop(&ctx, poll_queue(Queue::default()));
    for user in ["ada", "grace", "mallory"] {
        tasks.run(&ctx, send_welcome_email(user));
    }
    tasks.run_background(&ctx, refresh_cache());

    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(2500)) => {
            tracing::info!("time is up: shutting down");
        }
        () = ctx.done() => tracing::info!("signal: shutting down"),
    }
    match tasks.shutdown(Duration::from_secs(2)).await {
        Ok(()) => tracing::info!("every task stopped in time"),
        Err(stragglers) => tracing::warn!(%stragglers, "shutdown grace period ran out"),
    }
}
