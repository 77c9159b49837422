//! The main job: a small service that runs a queue poller, a cache refresher and a few
//! one-shot jobs on one `Tasks`, prints what they do as they do it, and after a few seconds,
//! or on Ctrl-C / SIGTERM (a second one exits at once), drains — the work in flight
//! finishes, nothing new starts — then shuts down what is left and says who did what.
//!
//! ```text
//! cargo run -p async-tasks-examples --example quickstart
//! RUST_LOG=quickstart=debug,async_tasks=info cargo run -p async-tasks-examples --example quickstart
//! ```
//!
//! Every line is a tracing event: `task{…}` is the span each run gets from `Tasks`, and
//! `poll-queue`, `refresh-cache`, `send-welcome-email` are the spans `#[async_task]` opens
//! for each call. The one failure is reported once, naming the task (target `async_tasks`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_tasks::task::LoopPolicy;
use async_tasks::{BoxError, Context, Tasks, async_task, shutdown_on_signals, sleep};
use tracing_subscriber::EnvFilter;

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
    // A drain lets this finish; a shutdown cuts it short (with `ContextError::Canceled`,
    // which is not reported).
    sleep(&ctx, Duration::from_millis(700)).await?;
    tracing::info!(job, "job done");
    Ok(())
}

/// One iteration of the refresher, which its loop policy runs once a second.
#[async_task(name = "refresh-cache")]
async fn refresh_cache(_ctx: Context) {
    tracing::info!("cache refreshed");
}

/// A one-shot job; one of them fails, to show how a failure is reported.
#[async_task(name = "send-welcome-email", fields(%user))]
async fn send_welcome_email(ctx: Context, user: &'static str) -> Result<(), BoxError> {
    sleep(&ctx, Duration::from_millis(300)).await?;
    if user == "mallory" {
        return Err(format!("mailbox of {user} is full").into());
    }
    tracing::info!("welcome email sent");
    Ok(())
}

#[tokio::main]
async fn main() {
    // Stock tracing-subscriber: a filter from RUST_LOG (INFO by default), no colour codes when
    // the output is not a terminal, and the fields meant for OpenTelemetry left out. (No
    // timestamps only to keep the example's lines short: a service keeps them.)
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(async_tasks::fmt::Fields::new())
        .without_time()
        .init();

    let tasks = Tasks::new("quickstart");
    // Canceled by the first Ctrl-C / SIGTERM: the signal to stop. The tasks get a context of
    // their own, so that stopping lets the work in flight finish instead of cutting it.
    let signals = shutdown_on_signals();
    let ctx = Context::background();

    tracing::info!("starting: a poller, a cache refresher and three one-shot jobs");
    tasks.run_loop(&ctx, poll_queue(Queue::default()));
    tasks.run_loop_with(
        &ctx,
        refresh_cache(),
        LoopPolicy::every(Duration::from_secs(1)),
    );
    for user in ["ada", "grace", "mallory"] {
        tasks.run(&ctx, send_welcome_email(user));
    }

    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(2500)) => tracing::info!("time is up: draining"),
        () = signals.done() => tracing::info!("signal: draining"),
    }
    // The service idiom: stop taking work and let what is in flight finish, then cancel what
    // is left, and say who did what.
    if let Err(stragglers) = tasks.drain(Duration::from_secs(2)).await {
        tracing::warn!("drain timed out: {stragglers}");
    }
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    tracing::info!("shut down: {report}");
}
