//! A queue in front of a pool: `Pool::queue(n)` and `Pool::try_spawn`, as an HTTP handler
//! uses them — accepted at once (started, or queued in order), or refused with
//! `AdmitError::Full`; queued jobs listed, drained, canceled by a shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::pool::{AdmitError, Pool};
use async_tasks::{BoxError, Context, Tasks, sleep};
use tokio::sync::oneshot;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

/// The order jobs started in.
type Started = Arc<Mutex<Vec<u32>>>;

/// A job that records that it started, then waits for `release` (or its context).
fn job(
    id: u32,
    started: &Started,
    release: oneshot::Receiver<()>,
) -> impl FnOnce(Context) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>
+ Send
+ 'static {
    let started = Arc::clone(started);
    move |ctx: Context| {
        Box::pin(async move {
            started.lock().unwrap().push(id);
            tokio::select! {
                _ = release => Ok(id),
                () = ctx.done() => Err(ctx.err().unwrap().into()),
            }
        })
    }
}

#[tokio::test]
async fn a_free_slot_starts_at_once_and_a_full_pool_refuses_without_waiting() {
    let pool = Pool::new("jobs").max_concurrency(1);
    let ctx = Context::background();
    let started = Started::default();
    let (go, release) = oneshot::channel();
    let first = pool
        .try_spawn(&ctx, "job-1", job(1, &started, release))
        .unwrap();
    // No queue: nothing waits.
    let (_go2, release2) = oneshot::channel();
    let refused = pool.try_spawn(&ctx, "job-2", job(2, &started, release2));
    let refused = refused.unwrap_err();
    assert_eq!(refused, AdmitError::Full);
    assert!(refused.is_full() && !refused.is_closed() && refused.context_error().is_none());
    assert!(!AdmitError::Closed.is_full());
    assert_eq!(
        AdmitError::Full.to_string(),
        "the pool is full: no free slot, and no room in its queue"
    );
    go.send(()).unwrap();
    assert_eq!(timeout(LIMIT, first).await.unwrap().unwrap(), 1);
    assert_eq!(*started.lock().unwrap(), [1]);
}

#[tokio::test]
async fn queued_jobs_start_in_the_order_they_were_accepted_and_before_later_waiters() {
    let pool = Arc::new(Pool::new("jobs").max_concurrency(1).queue(3));
    let ctx = Context::background();
    let started = Started::default();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for id in 1..=4 {
        let (go, release) = oneshot::channel();
        gates.push(go);
        handles.push(
            pool.try_spawn(&ctx, format!("job-{id}"), job(id, &started, release))
                .unwrap(),
        );
    }
    assert_eq!(pool.queued(), 3);
    let (_go, release) = oneshot::channel();
    assert_eq!(
        pool.try_spawn(&ctx, "job-5", job(5, &started, release))
            .unwrap_err(),
        AdmitError::Full
    );
    // A `spawn` that waits for room starts after the queued jobs.
    let (late_go, late_release) = oneshot::channel();
    let late = {
        let (pool, ctx, started) = (Arc::clone(&pool), ctx.clone(), Arc::clone(&started));
        tokio::spawn(async move {
            pool.spawn(&ctx, "late", job(9, &started, late_release))
                .await
                .unwrap()
                .await
        })
    };
    tokio::task::yield_now().await;
    let snapshot = pool.snapshot();
    let queued: Vec<(&str, bool)> = snapshot
        .tasks
        .iter()
        .map(|task| (task.name.as_str(), task.queued))
        .collect();
    assert_eq!(
        queued,
        [
            ("job-1", false),
            ("job-2", true),
            ("job-3", true),
            ("job-4", true)
        ]
    );
    assert!(
        snapshot.tasks.iter().all(|task| task.iteration.is_none()),
        "a pool job, queued or not, is no loop: {snapshot:?}"
    );
    for go in gates {
        go.send(()).unwrap();
        tokio::task::yield_now().await;
    }
    late_go.send(()).unwrap();
    for (id, handle) in (1..).zip(handles) {
        assert_eq!(timeout(LIMIT, handle).await.unwrap().unwrap(), id);
    }
    assert_eq!(timeout(LIMIT, late).await.unwrap().unwrap().unwrap(), 9);
    assert_eq!(*started.lock().unwrap(), [1, 2, 3, 4, 9]);
    assert_eq!(pool.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_drain_lets_queued_jobs_run_and_a_shutdown_cancels_them_before_they_start() {
    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1).queue(4);
    let ctx = Context::background();
    let ran = Started::default();
    let work = |id: u32, ran: &Started| {
        let ran = Arc::clone(ran);
        move |ctx: Context| async move {
            ran.lock().unwrap().push(id);
            sleep(&ctx, Duration::from_secs(1)).await?;
            Ok::<_, BoxError>(id)
        }
    };
    let first = pool.try_spawn(&ctx, "job-1", work(1, &ran)).unwrap();
    let second = pool.try_spawn(&ctx, "job-2", work(2, &ran)).unwrap();
    // The drain waits for both: the queued job was accepted.
    timeout(LIMIT, pool.tasks().drain(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (1, 2));
    assert_eq!(
        pool.try_spawn(&ctx, "job-3", work(3, &ran)).unwrap_err(),
        AdmitError::Closed
    );

    let svc = Tasks::new("svc");
    let pool = svc.pool("jobs", 1).queue(4);
    let running = pool.try_spawn(&ctx, "running", work(10, &ran)).unwrap();
    let queued = pool.try_spawn(&ctx, "queued", work(11, &ran)).unwrap();
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(running.await.unwrap_err().is_canceled());
    assert!(
        queued.await.unwrap_err().is_canceled(),
        "its handle says so"
    );
    let mut canceled = report.canceled.clone();
    canceled.sort();
    assert_eq!(canceled, ["jobs/queued", "jobs/running"]);
    assert!(
        !ran.lock().unwrap().contains(&11),
        "a queued job never started"
    );
    assert_eq!(pool.queued(), 0);
}

#[tokio::test]
async fn a_refused_job_is_dropped_unrun_and_an_aborted_queued_job_gives_its_place_back() {
    let pool = Pool::new("jobs").max_concurrency(1).queue(1);
    let (ctx, cancel) = Context::background().with_cancel();
    let started = Started::default();
    let (go, release) = oneshot::channel();
    let first = pool
        .try_spawn(&ctx, "job-1", job(1, &started, release))
        .unwrap();
    let (_go2, release2) = oneshot::channel();
    let second = pool
        .try_spawn(&ctx, "job-2", job(2, &started, release2))
        .unwrap();
    assert_eq!(pool.queued(), 1);
    second.abort();
    assert!(
        timeout(LIMIT, second)
            .await
            .unwrap()
            .unwrap_err()
            .is_aborted()
    );
    assert_eq!(pool.queued(), 0, "its place is free again");
    let (_go3, release3) = oneshot::channel();
    let third = pool.try_spawn(&ctx, "job-3", job(3, &started, release3));
    assert!(third.is_ok());
    cancel.cancel();
    let (_go4, release4) = oneshot::channel();
    assert_eq!(
        pool.try_spawn(&ctx, "job-4", job(4, &started, release4))
            .unwrap_err(),
        AdmitError::Context(async_tasks::context::ContextError::Canceled)
    );
    drop(go);
    let _ = timeout(LIMIT, first).await.unwrap();
    timeout(LIMIT, pool.tasks().wait()).await.unwrap();
    assert_eq!(*started.lock().unwrap(), [1], "job-2 and job-3 never ran");
}

#[tokio::test]
async fn clones_of_a_pool_share_its_slots_and_queue() {
    let pool = Pool::new("jobs").max_concurrency(1).queue(1);
    let handle = pool.clone();
    let ctx = Context::background();
    let started = Started::default();
    let (go, release) = oneshot::channel();
    let first = handle
        .try_spawn(&ctx, "job-1", job(1, &started, release))
        .unwrap();
    let (_go2, release2) = oneshot::channel();
    let second = pool
        .try_spawn(&ctx, "job-2", job(2, &started, release2))
        .unwrap();
    assert_eq!((pool.running(), handle.queued()), (2, 1));
    let (_go3, release3) = oneshot::channel();
    assert_eq!(
        handle
            .try_spawn(&ctx, "job-3", job(3, &started, release3))
            .unwrap_err(),
        AdmitError::Full
    );
    go.send(()).unwrap();
    assert_eq!(timeout(LIMIT, first).await.unwrap().unwrap(), 1);
    second.abort();
    timeout(LIMIT, handle.wait()).await.unwrap().unwrap();
}

/// `queue` called on a clone makes a queue of the clone's own, as `max_concurrency` makes
/// slots of its own (regression: the clone kept counting in the original's queue against
/// its own size).
#[tokio::test]
async fn a_queue_set_on_a_clone_is_the_clones_own() {
    let a = Pool::new("jobs").max_concurrency(1).queue(1);
    let b = a.clone().queue(3);
    let ctx = Context::background();
    let started = Started::default();
    let (go, release) = oneshot::channel();
    let running = a
        .try_spawn(&ctx, "job-1", job(1, &started, release))
        .unwrap();
    let (_go2, release2) = oneshot::channel();
    let queued = a
        .try_spawn(&ctx, "job-2", job(2, &started, release2))
        .unwrap();
    assert_eq!(a.queued(), 1);
    // The original's queue is full; the clone's has room of its own.
    let (_go3, release3) = oneshot::channel();
    assert_eq!(
        a.try_spawn(&ctx, "job-3", job(3, &started, release3))
            .unwrap_err(),
        AdmitError::Full
    );
    let (_go4, release4) = oneshot::channel();
    let also = b
        .try_spawn(&ctx, "job-4", job(4, &started, release4))
        .unwrap();
    assert_eq!((a.queued(), b.queued()), (1, 1));
    go.send(()).unwrap();
    assert_eq!(timeout(LIMIT, running).await.unwrap().unwrap(), 1);
    let report = timeout(LIMIT, a.tasks().shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    let mut canceled = report.canceled.clone();
    canceled.sort();
    assert_eq!(canceled, ["job-2", "job-4"], "{report}");
    assert!(
        timeout(LIMIT, queued)
            .await
            .unwrap()
            .unwrap_err()
            .is_canceled()
    );
    assert!(
        timeout(LIMIT, also)
            .await
            .unwrap()
            .unwrap_err()
            .is_canceled()
    );
}
