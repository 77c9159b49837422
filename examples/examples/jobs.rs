//! A job processor: jobs arrive on a channel; a dispatcher that owns the channel's receiver
//! hands each to a pool of 4, as a task named after the job; a progress poller and a cache
//! refresher run beside them; results go to a store behind a context-aware lock. On SIGTERM
//! (or after three seconds here), the service drains — the dispatcher stops taking jobs at
//! once, the jobs in flight finish — then shuts down what is left and says who did what,
//! naming exactly the job that ignored its context. Jobs never taken are handed back.
//!
//! ```text
//! cargo run -p async-tasks-examples --example jobs
//! ```
//!
//! Its test drives the same service on tokio's paused clock: a job that panics, one that
//! fails, one that ignores its context (so the drain times out), and checks the report.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::task::{LoopPolicy, ShutdownReport, ShutdownTimeout};
use async_tasks::{
    BoxError, Context, MutexWithContext, Runner, Tasks, async_task, shutdown_on_signals, sleep,
};
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;

/// What a job does, for the example's sake.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "only the test has a job that panics")
)]
enum Work {
    Takes(Duration),
    Fails(&'static str),
    Panics,
    IgnoresItsContext,
}

#[derive(Clone, Debug)]
struct Job {
    id: u32,
    work: Work,
}

/// Where finished jobs go: the shared resource, behind a lock that gives up when the
/// context ends.
type Store = Arc<MutexWithContext<Vec<u32>>>;

/// One job; its span carries the job's id, and so does its failure report.
#[async_task(name = "process-job", fields(job.id = job.id))]
async fn process_job(ctx: Context, job: Job, store: Store) -> Result<(), BoxError> {
    match job.work {
        Work::Takes(time) => sleep(&ctx, time).await?,
        Work::Fails(why) => return Err(format!("job {}: {why}", job.id).into()),
        Work::Panics => panic!("job {}: invariant broken", job.id),
        Work::IgnoresItsContext => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
    store.lock(&ctx).await?.push(job.id);
    Ok(())
}

/// One turn of the progress poller.
#[async_task(name = "progress")]
async fn progress(ctx: Context, store: Store) -> Result<(), BoxError> {
    let done = store.lock(&ctx).await?.len();
    tracing::info!(done, "progress");
    Ok(())
}

/// The cache refresher, in the background until the service closes.
#[async_task(name = "refresh-cache")]
async fn refresh_cache(ctx: Context) -> Result<(), BoxError> {
    loop {
        tokio::select! {
            () = ctx.closing() => return Ok(()),
            slept = sleep(&ctx, Duration::from_secs(2)) => slept?,
        }
        tracing::info!("cache refreshed");
    }
}

/// How the service stopped.
struct Stopped {
    /// The drain: `Err` names the jobs still running when it ran out.
    drained: Result<(), ShutdownTimeout>,
    report: ShutdownReport,
    /// Jobs never taken, handed back by the dispatcher.
    left: Vec<Job>,
    /// Tasks still running once it returned (0).
    running: usize,
}

/// Runs the service until `stop` is done, then drains for up to `drain` and shuts down
/// what is left with `grace`.
async fn serve(
    jobs: mpsc::Receiver<Job>,
    stop: Context,
    drain: Duration,
    grace: Duration,
) -> Stopped {
    let svc = Tasks::new("jobsvc");
    let pool = svc.pool("jobs", 4);
    let store = Store::default();
    let ctx = Context::background();

    // One-shot work that owns its receiver, and hands it back with what it could not place.
    let dispatcher = svc.spawn(&ctx, "dispatcher", {
        let store = Arc::clone(&store);
        move |ctx| async move {
            let mut jobs = jobs;
            let mut refused = Vec::new();
            loop {
                let job = tokio::select! {
                    biased;
                    () = ctx.closing() => break, // draining: take no more
                    job = jobs.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                };
                let runner = process_job(job.clone(), Arc::clone(&store));
                let name = format!("job-{}", job.id);
                let spawned =
                    pool.spawn(&ctx, name, move |ctx| async move { runner.run(ctx).await });
                if let Err(err) = spawned.await {
                    tracing::warn!(job = job.id, "not taken: {err}");
                    refused.push(job);
                    break;
                }
            }
            Ok::<_, BoxError>((jobs, refused))
        }
    });
    let every_second = LoopPolicy::every(Duration::from_secs(1))
        .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(1)))
        .max_failures(5);
    svc.run_loop_with(&ctx, progress(Arc::clone(&store)), every_second);
    svc.run_background(&ctx, refresh_cache());

    stop.done().await;
    tracing::info!("stopping: draining");
    let drained = svc.drain(drain).await;
    let report = svc.shutdown_report(grace).await;

    let mut left = Vec::new();
    if let Ok((mut jobs, refused)) = dispatcher.await {
        left.extend(refused);
        while let Ok(job) = jobs.try_recv() {
            left.push(job);
        }
    }
    Stopped {
        drained,
        report,
        left,
        running: svc.running(),
    }
}

/// The jobs of the demo: some quick, one slow, one failing, one that ignores its context.
/// (The test has one that panics too: std's panic hook would print it here.)
fn demo_jobs() -> Vec<Job> {
    let ms = Duration::from_millis;
    let mut jobs: Vec<Job> = (1..=12)
        .map(|id| Job {
            id,
            work: Work::Takes(ms(400)),
        })
        .collect();
    jobs[1].work = Work::Fails("upstream returned 503");
    jobs[5].work = Work::IgnoresItsContext;
    jobs[6].work = Work::Takes(ms(2500));
    jobs
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(async_tasks::fmt::Fields::new())
        .without_time()
        .init();

    let (queue, jobs) = mpsc::channel(64);
    for job in demo_jobs() {
        queue.try_send(job).expect("room for the demo's jobs");
    }
    // Done at the first Ctrl-C / SIGTERM, or after three seconds for the demo.
    let (stop, _cancel) = shutdown_on_signals().with_timeout(Duration::from_secs(3));
    let stopped = serve(jobs, stop, Duration::from_secs(2), Duration::from_secs(1)).await;

    if let Err(stragglers) = &stopped.drained {
        tracing::warn!("{stragglers}");
    }
    tracing::info!("shut down: {}", stopped.report);
    let left: Vec<u32> = stopped.left.iter().map(|job| job.id).collect();
    tracing::info!(?left, running = stopped.running, "jobs handed back");
}

#[cfg(test)]
mod tests {
    use async_tasks::testing::SpanRecorder;
    use tracing::Level;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sigterm_drains_and_the_report_names_the_job_that_ignored_its_context() {
        let recorder = SpanRecorder::install();
        let s = Duration::from_secs;
        let work = [
            Work::Takes(s(2)),
            Work::Panics,
            Work::IgnoresItsContext,
            Work::Takes(s(5)),
            Work::Fails("bad row"),
            Work::Takes(s(1)),
            Work::Takes(s(1)),
            Work::Takes(s(1)),
            Work::Takes(s(1)),
        ];
        let (queue, jobs) = mpsc::channel(64);
        for (id, work) in (1..).zip(work) {
            queue.try_send(Job { id, work }).unwrap();
        }
        // Queued behind the others: never taken, handed back.
        for id in 10..=12 {
            queue
                .try_send(Job {
                    id,
                    work: Work::Takes(s(1)),
                })
                .unwrap();
        }
        let (stop, _cancel) = Context::background().with_timeout(s(3));
        let start = tokio::time::Instant::now();
        let stopped = serve(jobs, stop, s(10), s(2)).await;

        // Stopped at 3 s; job 4 finished during the drain (at 5 s); job 3 ignored its
        // context, so the drain ran out (at 13 s) and the report aborted it (at 15 s).
        assert_eq!(start.elapsed(), s(15));
        let stragglers = stopped.drained.unwrap_err();
        assert_eq!(stragglers.names(), ["jobs/job-3"]);
        assert_eq!(stopped.report.aborted, ["jobs/job-3"]);
        assert!(stopped.report.finished.contains(&"jobs/job-4".to_owned()));
        assert!(stopped.report.finished.contains(&"dispatcher".to_owned()));
        assert!(stopped.report.cause.is_none());
        assert_eq!(stopped.running, 0);
        let left: Vec<u32> = stopped.left.iter().map(|job| job.id).collect();
        assert_eq!(left, [10, 11, 12]);

        // The panic and the failure were each reported once, naming the job.
        let failures: Vec<(Level, String)> = recorder
            .events()
            .iter()
            .filter(|e| e.target() == "async_tasks")
            .map(|e| (e.level(), e.message().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            failures,
            [
                (
                    Level::ERROR,
                    "task \"job-2\" panicked: job 2: invariant broken".to_owned()
                ),
                (
                    Level::ERROR,
                    "task \"job-5\" failed: job 5: bad row".to_owned()
                ),
            ]
        );
    }
}
