//! Beyond the Go original, together: a poller with a loop policy (a pause, retries with
//! backoff, a cap on failures) in a child set whose failure would stop the whole service, a
//! bounded pool inside the service's set fed by a spawned task that returns the pool's
//! errors, a live snapshot of what runs, and on SIGTERM the service idiom: drain, then a
//! shutdown report that aborts what will not stop and says who did what.
//!
//! ```text
//! cargo run -p async-tasks-examples --example production
//! ```
//!
//! It runs for about three seconds (the clock is real), printing the snapshot once a
//! second, then drains, shuts down and prints the report. It exits non-zero if a failure
//! shut the service down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_tasks::backon::ExponentialBuilder;
use async_tasks::task::{LoopPolicy, OnFailure, Snapshot};
use async_tasks::{BoxError, Context, Tasks, async_task, shutdown_on_signals, sleep};

/// Polls an upstream that fails on every third call.
#[async_task(name = "poll-upstream")]
async fn poll_upstream(_ctx: Context, calls: Arc<AtomicU32>) -> Result<(), BoxError> {
    let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
    if call % 3 == 0 {
        return Err(format!("upstream returned 503 on call {call}").into());
    }
    Ok(())
}

/// A job of the pool; job 4 fails.
#[async_task(name = "import-batch")]
async fn import_batch(ctx: Context, batch: u32) -> Result<(), BoxError> {
    sleep(&ctx, Duration::from_millis(400)).await?;
    if batch == 4 {
        return Err(format!("batch {batch}: row 17 is malformed").into());
    }
    Ok(())
}

/// A background task that ignores its context: the shutdown report will abort it.
#[async_task(name = "legacy-sync")]
async fn legacy_sync(_ctx: Context) {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn print_snapshot(snapshot: &Snapshot) {
    println!("running now:");
    for task in &snapshot.tasks {
        let mut line = format!(
            "  {:<26} {:?}, for {:.1?}",
            format!("{}/{}", task.tasks, task.name),
            task.kind,
            task.started_at.elapsed()
        );
        if let Some(iteration) = task.iteration {
            line += &format!(", iteration {iteration}");
        }
        if let Some(error) = &task.last_error {
            line += &format!(", last error: {error}");
        }
        println!("{line}");
    }
    if snapshot.unlisted > 0 {
        println!("  and {} unnamed runs", snapshot.unlisted);
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Events only: here, the failures, in their spans, without the OpenTelemetry fields.
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .fmt_fields(async_tasks::fmt::Fields::new())
        .init();
    // A task's panic is reported as an ERROR event with its location, not printed by std too.
    async_tasks::task::quiet_task_panics();

    // Done at the first Ctrl-C / SIGTERM (a second one exits at once): the signal to stop.
    // The tasks run under a context of their own, so that stopping drains them.
    let signals = shutdown_on_signals();
    let ctx = Context::background();
    let tasks = Tasks::new("service");

    // 1. A poller, in a set of its own: every 500 ms; a failure is retried after 100 ms,
    //    200 ms, ... (at most 1 s). If it fails 5 times in a row, it gives up, and its
    //    failure shuts the whole service down.
    let policy = LoopPolicy::every(Duration::from_millis(500))
        .on_error(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1)),
        )
        .max_failures(5);
    let upstream = tasks.child("upstream").on_failure(OnFailure::ShutdownRoot);
    upstream.run_loop_with(&ctx, poll_upstream(Arc::default()), policy);
    tasks.run_background(&ctx, legacy_sync());

    // 2. A bounded pool in the service's set: at most 2 batches at once. Its feeder owns it,
    //    and hands back the pool's failures as its result (each was reported already).
    let imports = tasks.pool("imports", 2);
    let feeder = tasks.spawn(&ctx, "feeder", move |ctx| async move {
        for batch in 1..=6 {
            if imports.run(&ctx, import_batch(batch)).await.is_err() {
                break; // the service is draining
            }
        }
        Ok::<_, BoxError>(imports.wait().await)
    });

    // 4. A live view, once a second, until a signal (or the service stops itself).
    let service = tasks.context();
    for _ in 0..3 {
        tokio::select! {
            () = signals.done() => break,
            () = service.done() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => print_snapshot(&tasks.snapshot()),
        }
    }

    // 3. Shutdown, the service idiom: let the work in flight finish (at most 1 s), then
    //    cancel what is left, abort what will not stop (after 500 ms), and say who did what.
    if let Err(stragglers) = tasks.drain(Duration::from_secs(1)).await {
        println!("drain: {stragglers}");
    }
    let report = tasks.shutdown_report(Duration::from_millis(500)).await;
    println!("shutdown: {report}");
    match feeder.await {
        Ok(Ok(())) => println!("imports: all done"),
        Ok(Err(errors)) => errors
            .errors()
            .iter()
            .for_each(|failure| println!("imports: {failure}")),
        Err(err) => println!("imports: {err}"),
    }
    if report.cause.is_some() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
