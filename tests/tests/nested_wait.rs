//! Waiting across nested sets: what a parent's `wait` covers of its children, and who may
//! wait for whom.
//!
//! Covers:
//! - on a multi-thread runtime, a set's `wait` returns only once its task's runner is
//!   dropped (what it holds is released), and so should a parent's for a child's task;
//! - a child set whose every handle was dropped is still covered by its parent while it
//!   has tasks: counted, listed, waited for, reported;
//! - `wait` and `drain` on a parent from inside a child's task panic (the task would wait
//!   for itself), reported as the task's panic; a parent's task may wait for a child.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use async_tasks::testing::SpanRecorder;
use async_tasks::{Context, Func, Tasks};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_test::{assert_pending, assert_ready, task};

use support::{Gate, LIMIT, named_stubborn, named_until_done, wait_bounded};

/// A runner whose drop, on a worker thread, says so and then blocks until the test lets it
/// go: the task is "being dropped" for as long as the test likes.
struct BlocksInDrop {
    dropping: mpsc::UnboundedSender<()>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Drop for BlocksInDrop {
    fn drop(&mut self) {
        let _ = self.dropping.send(());
        let _ = self.release.lock().unwrap().recv();
    }
}

/// Lets the blocked drop go however the test ends, so that the runtime can shut down.
struct Release(std::sync::mpsc::Sender<()>);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Runs on `set` (on a 2-worker runtime) a task that ends at once and whose runner blocks
/// in its drop, and returns whether `waiter.wait()` is ready while it does, with
/// `waiter.running()` and `set.running()` then.
fn wait_while_a_runner_is_dropped(set: &Tasks, waiter: &Tasks) -> (bool, usize, usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (dropping, mut dropping_rx) = mpsc::unbounded_channel();
        let (release_tx, release) = std::sync::mpsc::channel();
        let _release = Release(release_tx);
        let runner = BlocksInDrop {
            dropping,
            release: Mutex::new(release),
        };
        set.run(
            &Context::background(),
            Func::new(move |_ctx| {
                let _runner = &runner;
                std::future::ready(Ok(()))
            }),
        );
        // Real time, as a failure bound only: the drop comes at once.
        tokio::time::timeout(Duration::from_secs(60), dropping_rx.recv())
            .await
            .expect("the runner was not dropped");
        let mut wait = task::spawn(waiter.wait());
        let ready = wait.poll().is_ready();
        (ready, waiter.running(), set.running())
    })
}

#[test]
fn a_sets_wait_returns_only_once_its_tasks_runner_is_dropped() {
    let svc = Tasks::new("svc");
    assert_eq!(wait_while_a_runner_is_dropped(&svc, &svc), (false, 1, 1));
}

/// `Tasks::wait`: "Waits until no task of this set or its child sets is running"; a
/// child's task being dropped (its runner, and whatever it holds: a pool's slot, a
/// connection) still counts in the child, but no longer in the parent.
#[test]
fn a_parents_wait_returns_only_once_a_childs_task_is_dropped() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    assert_eq!(wait_while_a_runner_is_dropped(&jobs, &svc), (false, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_child_without_handles_is_still_covered_by_its_parent() {
    let svc = Tasks::new("svc");
    // Each child's only handle is a temporary: its tasks keep it.
    svc.child("tmp")
        .run(&Context::background(), named_stubborn("stuck"));
    svc.child("tmp2")
        .run(&Context::background(), named_until_done("server"));
    assert_eq!(svc.running(), 2);
    let mut listed: Vec<_> = svc
        .snapshot()
        .tasks
        .into_iter()
        .map(|t| format!("{}:{}", t.tasks, t.name))
        .collect();
    listed.sort();
    assert_eq!(listed, ["svc/tmp2:server", "svc/tmp:stuck"]);
    let mut wait = task::spawn(svc.wait());
    assert_pending!(wait.poll());

    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.finished, ["tmp2/server"]);
    assert_eq!(report.aborted, ["tmp/stuck"]);
    assert_eq!(svc.running(), 0);
    assert!(wait.is_woken());
    assert_ready!(wait.poll());
}

#[tokio::test]
async fn a_childs_task_cannot_wait_for_or_drain_its_parent_but_a_parents_task_can_wait_for_a_child()
{
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let deep = jobs.child("deep");
    let s = svc.clone();
    deep.run(
        &Context::background(),
        Func::named("waits-for-root", move |_ctx| {
            let s = s.clone();
            async move {
                s.wait().await;
                Ok(())
            }
        }),
    );
    let j = jobs.clone();
    jobs.run(
        &Context::background(),
        Func::named("drains-itself", move |_ctx| {
            let j = j.clone();
            async move {
                let _ = j.drain(Duration::from_secs(1)).await;
                Ok(())
            }
        }),
    );
    wait_bounded(&svc).await;
    let panics: Vec<_> = recorder
        .events()
        .into_iter()
        .filter_map(|e| Some((e.field("task")?.to_owned(), e.field("panic")?.to_owned())))
        .collect();
    assert_eq!(panics.len(), 2, "{}", recorder.tree());
    assert!(panics.iter().any(|(task, panic)| task == "waits-for-root"
        && panic.contains("`svc`")
        && panic.contains("wait for itself")));
    assert!(panics.iter().any(|(task, panic)| task == "drains-itself"
        && panic.contains("`svc/jobs`")
        && panic.contains("Tasks::drain")));

    // A task of the parent waits for a child: it is not one of the child's tasks.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let gate = Gate::new();
    let g = gate.clone();
    jobs.run(
        &Context::background(),
        Func::new(move |_ctx| {
            let g = g.clone();
            async move {
                g.wait().await;
                Ok(())
            }
        }),
    );
    let j = jobs.clone();
    svc.run(
        &Context::background(),
        Func::new(move |_ctx| {
            let (j, done_tx) = (j.clone(), done_tx.clone());
            async move {
                j.wait().await;
                done_tx.send(()).unwrap();
                Ok(())
            }
        }),
    );
    gate.open();
    timeout(LIMIT, done_rx.recv()).await.unwrap().unwrap();
    wait_bounded(&svc).await;
}
