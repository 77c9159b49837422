//! Beyond the Go original, together: a poller with a loop policy (a pause, retries with
//! backoff, a cap on failures), a bounded pool of jobs whose errors come out of `wait`, a
//! live snapshot of what runs, and a shutdown report that aborts what will not stop.
//!
//! ```text
//! cargo run -p async-tasks-examples --example production
//! ```
//!
//! It runs for about three seconds (the clock is real), printing the snapshot once a
//! second, then shuts down and prints the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_tasks::backon::ExponentialBuilder;
use async_tasks::{
    BoxError, Context, LoopPolicy, Pool, Snapshot, Tasks, async_task, shutdown_on_signals, sleep,
};

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
            "  {:<14} {:?}, for {:.1?}",
            task.name,
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
async fn main() {
    // Events only (no span open/close lines): here, the failures, in their spans.
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .init();

    // Cancelled by Ctrl-C / SIGTERM; a second signal exits at once.
    let ctx = shutdown_on_signals();
    let tasks = Tasks::new("service");

    // 1. A poller: every 500 ms; a failure is retried after 100 ms, 200 ms, ... (at most
    //    1 s); it gives up after 5 failures in a row.
    let policy = LoopPolicy::every(Duration::from_millis(500))
        .on_error(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1))
                .without_max_times(),
        )
        .max_failures(5);
    tasks.run_loop_with(&ctx, poll_upstream(Arc::default()), policy);
    tasks.run_background(&ctx, legacy_sync());

    // 2. A bounded pool: at most 2 batches at once; `run` waits for a free slot.
    let pool = Arc::new(Pool::new("imports").max_concurrency(2));
    let jobs = {
        let (pool, ctx) = (Arc::clone(&pool), ctx.clone());
        tokio::spawn(async move {
            for batch in 1..=6 {
                if pool.run(&ctx, import_batch(batch)).await.is_err() {
                    break; // the service is shutting down
                }
            }
            pool.wait().await
        })
    };

    // 4. A live view, once a second.
    for _ in 0..3 {
        tokio::select! {
            () = ctx.done() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => print_snapshot(&tasks.snapshot()),
        }
    }

    match jobs.await.expect("the job feeder does not panic") {
        Ok(()) => println!("imports: all done"),
        Err(errors) => {
            for failure in errors.errors() {
                println!("imports: {failure}");
            }
        }
    }

    // 3. Shutdown: cancel everything, wait up to 500 ms, abort what is left, and say who
    //    did what.
    let report = tasks.shutdown_report(Duration::from_millis(500)).await;
    println!("shutdown: {report}");
    println!("  finished: {:?}", report.finished);
    println!("  aborted:  {:?}", report.aborted);
}
