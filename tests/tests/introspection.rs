//! Live introspection (`Tasks::snapshot`) and the shutdown report
//! (`Tasks::shutdown_report`): what is listed and how, loop iterations and last errors,
//! who finished, failed, panicked and was aborted, that aborting really drops the task,
//! and that the grace period is one wait for everyone, not one per task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::task::{LoopPolicy, TaskKind};
use async_tasks::{Context, Func, Tasks, sleep};
use tokio::time::Instant;

/// A runner that waits for its context, then takes `after` to finish.
fn polite(name: &'static str, after: Duration) -> impl async_tasks::Runner {
    Func::named(name, move |ctx| async move {
        ctx.done().await;
        tokio::time::sleep(after).await;
        Ok(())
    })
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_lists_loops_background_and_named_runs_and_counts_the_rest() {
    let tasks = Tasks::new("svc");
    let (ctx, cancel) = Context::background().with_cancel();
    let start = Instant::now();
    tasks.run_loop(&ctx, polite("poller", Duration::ZERO));
    tokio::time::advance(Duration::from_secs(1)).await;
    tasks.run_background(
        &ctx,
        Func::new(|ctx| async move {
            ctx.done().await;
            Ok(())
        }),
    );
    tasks.run(&ctx, polite("named-run", Duration::ZERO));
    for _ in 0..3 {
        tasks.run(
            &ctx,
            Func::new(|ctx| async move {
                ctx.done().await;
                Ok(())
            }),
        );
    }
    tokio::task::yield_now().await;

    let snapshot = tasks.snapshot();
    let listed: Vec<_> = snapshot
        .tasks
        .iter()
        .map(|task| (task.name.as_str(), task.kind, task.iteration))
        .collect();
    assert_eq!(
        listed,
        [
            ("poller", TaskKind::Loop, Some(1)),
            ("svc", TaskKind::Background, None),
            ("named-run", TaskKind::Run, None),
        ]
    );
    assert_eq!(snapshot.tasks[0].started_at, start);
    assert_eq!(snapshot.tasks[1].started_at, start + Duration::from_secs(1));
    assert_eq!(snapshot.unlisted, 3);

    cancel.cancel();
    tasks.shutdown(Duration::from_secs(1)).await.unwrap();
    let after = tasks.snapshot();
    assert!(after.tasks.is_empty());
    assert_eq!(after.unlisted, 0);
}

#[tokio::test(start_paused = true)]
async fn a_loops_snapshot_shows_its_iteration_and_last_error() {
    let tasks = Tasks::new("svc");
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = Arc::clone(&runs);
    tasks.run_loop_with(
        &Context::background(),
        Func::named("flaky", move |_ctx| {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n.is_multiple_of(2) {
                    return Err(format!("failure at {n}").into());
                }
                Ok(())
            }
        }),
        LoopPolicy::every(Duration::from_secs(10)).on_error(
            ConstantBuilder::default()
                .with_delay(Duration::from_secs(1))
                .without_max_times(),
        ),
    );
    // Iterations start at 0 s (ok), 10 s (fails), 11 s (ok), 21 s (fails), 22 s ...
    tokio::time::sleep(Duration::from_millis(21_500)).await;
    let snapshot = tasks.snapshot();
    let flaky = &snapshot.tasks[0];
    assert_eq!(flaky.iteration, Some(4));
    assert_eq!(flaky.last_error.as_deref(), Some("failure at 4"));
    tasks.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_report_says_who_finished_failed_panicked_and_was_aborted() {
    let tasks = Tasks::new("svc");
    let ctx = Context::background();
    let dropped = Arc::new(AtomicBool::new(false));

    tasks.run_loop(&ctx, polite("poller", Duration::from_secs(1)));
    tasks.run(
        &ctx,
        Func::named("uploader", |ctx| async move {
            ctx.done().await;
            Err("upload cut short".into())
        }),
    );
    tasks.run_background(
        &ctx,
        Func::named("cleaner", |ctx| async move {
            ctx.done().await;
            panic!("cleanup bug");
        }),
    );
    let flag = Arc::clone(&dropped);
    tasks.run(
        &ctx,
        Func::named("stubborn", move |_ctx| {
            let guard = SetOnDrop(Arc::clone(&flag));
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }),
    );
    tasks.run(
        &ctx,
        Func::new(|ctx| async move {
            ctx.done().await;
            Ok(())
        }),
    );
    tasks.run(
        &ctx,
        Func::new(|_ctx| async {
            std::future::pending::<()>().await;
            Ok(())
        }),
    );
    tokio::task::yield_now().await;

    let start = Instant::now();
    let report = tasks.shutdown_report(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(report.finished, ["poller"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (
            report.failed[0].name.as_str(),
            report.failed[0].error.as_str()
        ),
        ("uploader", "upload cut short")
    );
    assert_eq!(report.panicked.len(), 1);
    assert_eq!(
        (
            report.panicked[0].name.as_str(),
            report.panicked[0].error.as_str()
        ),
        ("cleaner", "cleanup bug")
    );
    assert_eq!(report.aborted, ["stubborn"]);
    assert_eq!(report.unlisted_finished, 1);
    assert_eq!(report.unlisted_running, 1);
    assert!(!report.is_clean());
    assert_eq!(
        report.to_string(),
        "2 finished (poller, 1 unnamed), 0 canceled, 1 failed (uploader: upload cut short), 1 panicked \
         (cleaner: cleanup bug), 1 aborted (stubborn), 1 unnamed still running"
    );

    // The abort really drops the task (at its next poll, which tokio schedules).
    tokio::time::timeout(Duration::from_secs(1), async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the aborted task is dropped");
    assert_eq!(
        tasks.running(),
        1,
        "only the unnamed, unabortable run is left"
    );
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn the_grace_period_is_one_wait_for_everyone() {
    let tasks = Tasks::new("svc");
    for name in ["a", "b", "c"] {
        tasks.run(&Context::background(), polite(name, Duration::from_secs(3)));
    }
    tokio::task::yield_now().await;
    let start = Instant::now();
    let report = tasks.shutdown_report(Duration::from_secs(5)).await;
    // Three tasks taking 3 s each after the cancel: 3 s in all, not 9.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let mut finished = report.finished.clone();
    finished.sort();
    assert_eq!(finished, ["a", "b", "c"]);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_task_started_during_the_report_is_canceled_and_counted() {
    let tasks = Tasks::new("svc");
    let inner = tasks.clone();
    tasks.run(
        &Context::background(),
        Func::named("spawner", move |ctx| {
            let inner = inner.clone();
            async move {
                ctx.done().await;
                // Started after the shutdown began: born canceled.
                inner.run(&Context::background(), polite("late", Duration::ZERO));
                let _ = sleep(&ctx, Duration::from_secs(1)).await;
                Ok(())
            }
        }),
    );
    tokio::task::yield_now().await;
    let report = tasks.shutdown_report(Duration::from_secs(5)).await;
    let mut finished = report.finished.clone();
    finished.sort();
    assert_eq!(finished, ["late", "spawner"]);
}
