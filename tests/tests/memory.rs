//! What must not grow: memory that a long-running service would leak one step at a time.
//!
//! Covers:
//! - a task that runs itself again, from its own context, a million times: the process's
//!   resident memory stays flat (each step would otherwise hang one more context node, of
//!   about 360 bytes, on the chain);
//! - a context chain of 200,000 `with_cancel` children, whose intermediate handles are gone,
//!   dropped from its leaf on a thread with a 2 MiB stack: no overflow;
//! - a `shutdown_report` future dropped before its grace period ends: the set's runs that
//!   end afterwards record nothing for it (200,000 named runs, resident memory flat);
//! - a job handed round a ring of three sets 300,000 times, each step with the context of
//!   the step before: resident memory flat (each step would otherwise keep a join node).
//!
//! The tests of this file run one at a time (they measure the process's memory), in about
//! 10 s in a debug build.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod support;

use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use tokio::runtime::Builder;
use tokio::sync::mpsc;
use tokio::time::timeout;

use support::{rss_bytes, serial, wait_bounded};

/// A job that reschedules itself on its set, from its own context, until `left` reaches 0;
/// it reports the resident memory at each tenth of the way.
#[derive(Clone)]
struct Continuation {
    tasks: Tasks,
    left: Arc<AtomicUsize>,
    total: usize,
    progress: mpsc::UnboundedSender<(usize, usize)>,
}

#[async_trait]
impl Runner for Continuation {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let left = self.left.fetch_sub(1, Ordering::SeqCst) - 1;
        if left.is_multiple_of(self.total / 10) {
            let _ = self.progress.send((left, rss_bytes()));
        }
        if left > 0 {
            // The last act of the run: the next step, with this run's own context.
            self.tasks.run(&ctx, self.clone());
        }
        Ok(())
    }
}

/// Regression (reliability round 2): each step used to add a node to the chain of contexts
/// (a join of the run's context with its set's), which grew without bound and, once long
/// enough, overflowed a worker's stack when dropped.
#[test]
fn a_task_that_reruns_itself_a_million_times_runs_in_constant_memory() {
    reruns(1_000_000);
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_a_task_that_reruns_itself_ten_million_times() {
    reruns(10_000_000);
}

/// Runs a task that reruns itself `steps` times, and checks that memory stays flat.
fn reruns(steps: usize) {
    let _serial = serial();
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let tasks = Tasks::new("continuations");
        // A caller context of its own, so that every step's context is a join of two.
        let (caller, _cancel) = Context::background().with_cancel();
        let (progress, mut seen) = mpsc::unbounded_channel();
        tasks.run(
            &caller,
            Continuation {
                tasks: tasks.clone(),
                left: Arc::new(AtomicUsize::new(steps)),
                total: steps,
                progress,
            },
        );
        wait_bounded(&tasks).await;
        let mut samples = Vec::new();
        while let Ok(sample) = seen.try_recv() {
            samples.push(sample);
        }
        assert_eq!(samples.len(), 10, "{samples:?}");
        assert_eq!(samples.last().map(|s| s.0), Some(0), "every step ran");
        // From the second tenth on (the allocator has settled), memory stays where it was.
        let baseline = samples[1].1;
        let end = samples[9].1;
        let growth = end as isize - baseline as isize;
        println!(
            "resident memory growth over {steps} steps: {} kB",
            growth / 1024
        );
        assert!(
            growth < 4 << 20,
            "resident memory grew by {} kB over the last {} steps",
            growth / 1024,
            steps / 10 * 8
        );
    });
}

/// A job handed round a ring of sets (A to B to C to A...), each step run with the
/// context of the step before; it reports the resident memory at each tenth of the way.
#[derive(Clone)]
struct Ring {
    sets: Arc<Vec<Tasks>>,
    left: Arc<AtomicUsize>,
    total: usize,
    progress: mpsc::UnboundedSender<(usize, usize)>,
}

#[async_trait]
impl Runner for Ring {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let left = self.left.fetch_sub(1, Ordering::SeqCst) - 1;
        if left.is_multiple_of(self.total / 10) {
            let _ = self.progress.send((left, rss_bytes()));
        }
        if left > 0 {
            // The last act of the run: the next step, on the next set, with this run's
            // own context.
            self.sets[left % self.sets.len()].run(&ctx, self.clone());
        }
        Ok(())
    }
}

/// Regression (reliability round 3, defect 6): with three sets or more, each step's
/// context (a join of the step before's and its set's) kept the one before: a node a step,
/// about 300 bytes, for as long as the ring ran (12 to 92 MiB over 300,000 steps).
#[test]
fn a_ring_of_three_sets_runs_in_constant_memory() {
    ring(300_000);
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_a_ring_of_three_sets_three_million_times() {
    ring(3_000_000);
}

/// Hands a job round three sets `steps` times, and checks that memory stays flat.
fn ring(steps: usize) {
    let _serial = serial();
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sets: Arc<Vec<Tasks>> = Arc::new(["a", "b", "c"].map(Tasks::new).into());
        let (caller, _cancel) = Context::background().with_cancel();
        let (progress, mut seen) = mpsc::unbounded_channel();
        sets[0].run(
            &caller,
            Ring {
                sets: Arc::clone(&sets),
                left: Arc::new(AtomicUsize::new(steps)),
                total: steps,
                progress,
            },
        );
        // The job goes round: waited for until no set runs it.
        while sets.iter().any(|set| set.running() > 0) {
            for set in sets.iter() {
                wait_bounded(set).await;
            }
        }
        let mut samples = Vec::new();
        while let Ok(sample) = seen.try_recv() {
            samples.push(sample);
        }
        assert_eq!(samples.len(), 10, "{samples:?}");
        assert_eq!(samples.last().map(|s| s.0), Some(0), "every step ran");
        let growth = samples[9].1 as isize - samples[1].1 as isize;
        println!(
            "resident memory growth over {steps} steps round three sets: {} kB",
            growth / 1024
        );
        assert!(
            growth < 4 << 20,
            "resident memory grew by {} kB over the last {} steps",
            growth / 1024,
            steps / 10 * 8
        );
    });
}

/// Regression (reliability round 2): dropping the leaf of a long chain dropped each parent
/// from inside its child's drop, one stack frame per context.
#[test]
fn a_long_chain_of_contexts_drops_from_its_leaf_on_a_small_stack() {
    let _serial = serial();
    let dropped = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let (root, cancel) = Context::background().with_cancel();
            let mut leaf = root.clone();
            for _ in 0..200_000 {
                // Each intermediate handle goes at once: only the chain holds the nodes.
                leaf = leaf.with_cancel().0;
            }
            drop(root);
            assert!(!leaf.is_done());
            cancel.cancel();
            assert!(leaf.is_done(), "the cancel reached the leaf");
            drop(leaf);
        })
        .unwrap()
        .join();
    assert!(dropped.is_ok(), "the thread overflowed its stack");
}

/// Regression (reliability round 2): a dropped `shutdown_report` future left its record of
/// ended tasks behind, and every listed run that ended afterwards was added to it, forever
/// (about 47 bytes a run).
#[test]
fn a_dropped_shutdown_report_leaves_nothing_recording() {
    after_a_dropped_report(200_000);
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_two_million_runs_after_a_dropped_report() {
    after_a_dropped_report(2_000_000);
}

/// Drops a report early, then runs `RUNS` named tasks, and checks that memory stays flat.
fn after_a_dropped_report(runs: usize) {
    let _serial = serial();
    const WAVE: usize = 10_000;
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    let growth = rt.block_on(async {
        let svc = Tasks::new("svc");
        let jobs = svc.child("jobs");
        // A job that ignores its context until told, so that the report waits for it...
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = std::sync::Mutex::new(Some(released));
        jobs.run(
            &Context::background(),
            Func::named("stubborn", move |_ctx| {
                let released = released.lock().unwrap().take();
                async move {
                    if let Some(released) = released {
                        let _ = released.await;
                    }
                    Ok(())
                }
            }),
        );
        // ...and the report, dropped long before its grace period ends.
        let report = timeout(
            Duration::from_millis(1),
            jobs.shutdown_report(Duration::from_secs(3600)),
        )
        .await;
        assert!(report.is_err(), "the report was still waiting");
        release.send(()).unwrap();
        // The child is shut down, but runs still start there and end (born canceled):
        // each would be recorded by a report that stayed behind.
        let runner = Arc::new(Func::named("job", |_ctx| async { Ok(()) }));
        let mut baseline = 0;
        for wave in 0..runs / WAVE {
            if wave == 3 {
                baseline = rss_bytes();
            }
            for _ in 0..WAVE {
                jobs.run(&Context::background(), Arc::clone(&runner));
            }
            wait_bounded(&svc).await;
        }
        rss_bytes() as isize - baseline as isize
    });
    println!(
        "resident memory growth over {runs} runs after a dropped report: {} kB",
        growth / 1024
    );
    assert!(
        growth < 2 << 20,
        "resident memory grew by {} kB: the dropped report still records",
        growth / 1024
    );
}
