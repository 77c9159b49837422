//! Reliability of the supervision tree when drains and reports race child sets coming and
//! going, and each other (reliability round 3).
//!
//! Covers:
//! - a shutdown (or drain) that times out, naming its stragglers while child sets are
//!   dropped on other threads, returns, and the set still makes children afterwards
//!   (regression: it could deadlock on its own lock);
//! - a drain or report future dropped while a child set is being made leaves nothing
//!   recording on that child (regression: the child could keep the dropped collector
//!   forever);
//! - a drain that ends during a report: the report names each task once (regression: a task
//!   that ended during both was named twice);
//! - all of it at once, on trees made anew every 200 ms: child sets and grandchildren made
//!   and dropped, named runs, drains (awaited, timed out, dropped) and reports (awaited,
//!   dropped), from four threads: nothing hangs, and once a tree is reported on, nothing
//!   runs and nothing records there.
//!
//! The races run for 3 s each on real threads (CI); `.ci/soak` runs them for 30 s each
//! (`soak_*`, ignored here), from its seed (`ASYNC_TASKS_SOAK_SEED`; CI's is fixed). A race
//! cannot be forced from outside the crate: these make each one likely, and the loom models
//! in `async-tasks/src/tasks/set/loom_models.rs` check every interleaving.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use async_tasks::__private::probes;
use async_tasks::{Context, Func, Tasks};
use futures_util::FutureExt;
use tokio::runtime::{Builder, Runtime};

use support::{LIMIT, Rng, named_stubborn, named_until_done, soak_seed, stubborn};

/// How long after its last sign of life a racing thread is taken to hang: a failure bound,
/// never reached when all is well.
const HANG: Duration = Duration::from_secs(10);

/// How many parents the grandchildren that come and go are spread over (defect 1).
const PARENTS: usize = 64;

/// How many drains wait all along (defect 3).
const WAITING: usize = 128;

/// How far apart, in spins, a round's child creation and drain may start (defect 3).
const SPREAD: u64 = 512;

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Regression (reliability round 3, defect 1): naming the stragglers, a shutdown (or drain)
/// that timed out upgraded each child set and dropped it under the parent's `children`
/// lock; when that was the child's last handle, the child's drop took the same lock again,
/// on the same thread, forever. Before the fix this hung in 6 runs of 6, after 18 to 339
/// rounds. The race is a grandchild's last handle dropped in the few instructions between
/// the walk's upgrade and drop, so the test makes it likely, not certain; `set.rs`'s loom
/// model `loom_naming_stragglers_while_a_child_goes_does_not_deadlock` is the certain one.
#[test]
fn a_drain_that_times_out_while_children_come_and_go_returns() {
    drains_while_children_come_and_go(Duration::from_secs(3));
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_drains_while_children_come_and_go() {
    drains_while_children_come_and_go(Duration::from_secs(30));
}

/// For `period`, shuts `svc` down with no time to spare, over and over (so that each time
/// out names the stragglers, walking each set's children), while two threads make
/// grandchild sets under `svc`'s children and drop each at once. Fails if a shutdown does
/// not return within [`HANG`].
fn drains_while_children_come_and_go(period: Duration) {
    let svc = Tasks::new("svc");
    // Parents for the grandchildren: a walk of one's children is short, and a grandchild's
    // drop waits only for the walk of its own parent.
    let parents: Arc<Vec<Tasks>> = Arc::new((0..PARENTS).map(|_| svc.child("parent")).collect());
    let rt = runtime();
    // A straggler, so that every shutdown times out.
    rt.block_on(async { svc.run(&Context::background(), stubborn()) });
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|churner| {
            let (parents, stop) = (Arc::clone(&parents), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rng = Rng(soak_seed(1) + churner);
                while !stop.load(Ordering::Relaxed) {
                    let parent = &parents[rng.below(PARENTS as u64) as usize];
                    drop(parent.child("grandchild"));
                }
            })
        })
        .collect();
    let (alive, heartbeat) = mpsc::channel();
    let drainer = {
        let (svc, stop) = (svc.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let rt = Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let shut = svc.shutdown(Duration::ZERO).await;
                    assert!(shut.is_err(), "the straggler is still running");
                    rounds += 1;
                    let _ = alive.send(rounds);
                }
            });
        })
    };
    let start = std::time::Instant::now();
    let mut rounds = 0;
    while start.elapsed() < period {
        rounds = heartbeat.recv_timeout(HANG).unwrap_or_else(|_| {
            panic!(
                "a shutdown did not return within {HANG:?}, after {rounds} rounds: \
                 deadlocked naming its stragglers"
            )
        });
    }
    stop.store(true, Ordering::Relaxed);
    drainer.join().unwrap();
    for churner in churners {
        churner.join().unwrap();
    }
    println!("{rounds} shutdowns timed out while grandchildren came and went");
    // The set still works: a child can be made, and a report ends what is left.
    drop(svc.child("after"));
    let report = rt.block_on(svc.shutdown_report(Duration::from_millis(10)));
    assert_eq!(report.unlisted_running, 1, "{report}");
}

/// Regression (reliability round 3, defect 3): a new child set is listed under its parent,
/// then copies the parent's collectors; a drain (or report) future dropped in between took
/// its collector out of the parent and the child, and the copy put it back into the child,
/// which then recorded every ending of its listed tasks, for nobody, forever.
#[test]
fn drains_and_reports_dropped_while_children_are_made_leave_nothing_recording() {
    dropped_drains_while_children_are_made(Duration::from_secs(3));
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_dropped_drains_while_children_are_made() {
    dropped_drains_while_children_are_made(Duration::from_secs(30));
}

/// For `period`, in rounds: one thread makes a child set of `svc` while another starts a
/// drain or a report on `svc` and drops it after its first poll; once the round is over,
/// the child must record for the drains that wait all along, and for nobody else.
fn dropped_drains_while_children_are_made(period: Duration) {
    let rt = runtime();
    let svc = Tasks::new("svc");
    // A listed straggler, so that every drain and report waits (until dropped); and drains
    // that wait for it all along, so that a new child copies their collectors before the
    // one dropped in its round (which it then takes longer to reach).
    rt.block_on(async { svc.run(&Context::background(), named_stubborn("stubborn")) });
    let waiting: Vec<_> = (0..WAITING)
        .map(|_| {
            let svc = svc.clone();
            rt.spawn(async move { svc.drain(LIMIT).await })
        })
        .collect();
    let until = |what: &'static str, done: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < HANG, "{what}");
            std::thread::yield_now();
        }
    };
    until("the drains did not start", &|| {
        probes::collectors(&svc) == WAITING
    });
    // Set by the dropper before a round's first barrier, so that both threads see it for
    // the same round.
    let stop = Arc::new(AtomicBool::new(false));
    // Both threads at the start of a round, and both at its end.
    let barrier = Arc::new(Barrier::new(2));
    let maker = {
        let (svc, stop, barrier) = (svc.clone(), Arc::clone(&stop), Arc::clone(&barrier));
        std::thread::spawn(move || {
            let (mut made, mut recording) = (0usize, 0usize);
            let mut rng = Rng(soak_seed(1));
            loop {
                barrier.wait();
                if stop.load(Ordering::Relaxed) {
                    return (made, recording);
                }
                // Out of step with the drop by a different amount each round.
                for _ in 0..rng.below(SPREAD) {
                    std::hint::spin_loop();
                }
                let child = svc.child("child");
                barrier.wait();
                made += 1;
                recording += usize::from(probes::collectors(&child) > WAITING);
            }
        })
    };
    let (alive, heartbeat) = mpsc::channel();
    let dropper = {
        let (svc, handle) = (svc.clone(), rt.handle().clone());
        std::thread::spawn(move || {
            // Their timers need a runtime.
            let _runtime = handle.enter();
            let start = std::time::Instant::now();
            let mut rounds = 0u64;
            loop {
                stop.store(start.elapsed() >= period, Ordering::Relaxed);
                barrier.wait();
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if rounds.is_multiple_of(2) {
                    assert!(svc.drain(LIMIT).now_or_never().is_none());
                } else {
                    assert!(svc.shutdown_report(LIMIT).now_or_never().is_none());
                }
                barrier.wait();
                rounds += 1;
                let _ = alive.send(rounds);
            }
        })
    };
    let mut rounds = 0;
    // Until the dropper stops (its sender goes), or hangs.
    loop {
        match heartbeat.recv_timeout(HANG) {
            Ok(done) => rounds = done,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("a round of drains and new children did not end")
            }
        }
    }
    dropper.join().unwrap();
    let (made, recording) = maker.join().unwrap();
    println!("{rounds} rounds of drains and reports dropped while {made} children were made");
    assert_eq!(
        recording, 0,
        "{recording} of {made} children keep recording for a dropped drain or report"
    );
    for drain in &waiting {
        drain.abort();
    }
    until("the aborted drains still record", &|| {
        probes::collectors(&svc) == 0
    });
}

/// Regression (reliability round 3, defect 5): a report took the drain's list after its
/// grace period, so a drain that ended during the report had handed it what ended during
/// both, which the report had collected too: `finished: ["polite", "polite"]`.
#[tokio::test(start_paused = true)]
async fn a_drain_that_ends_during_a_report_leaves_each_task_named_once() {
    let svc = Tasks::new("svc");
    let ctx = Context::background();
    // Ends when canceled: during the report, which ends the drain too.
    svc.run(&ctx, named_until_done("polite"));
    // Ends by itself during the drain, before the report.
    svc.run(
        &ctx,
        Func::named("early", |_ctx| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        }),
    );
    let drain = tokio::spawn({
        let svc = svc.clone();
        async move { svc.drain(Duration::from_secs(3600)).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!drain.is_finished(), "the drain waits for `polite`");
    let report = svc.shutdown_report(Duration::from_secs(5)).await;
    assert!(
        drain.await.unwrap().is_ok(),
        "the drain ended with the report"
    );
    assert_eq!(report.finished, ["early", "polite"], "{report}");
    assert_eq!(
        report.to_string(),
        "2 finished (early, polite), 0 canceled, 0 failed, 0 panicked, 0 aborted"
    );
}

/// The whole tree at once, for 3 s (see the module docs).
#[test]
fn drains_reports_and_children_all_at_once_leave_nothing_behind() {
    all_at_once(Duration::from_secs(3));
}

#[test]
#[ignore = "soak: run with --release, see .ci/soak"]
fn soak_drains_reports_and_children_all_at_once() {
    all_at_once(Duration::from_secs(30));
}

/// How long one tree of [`all_at_once`] lives.
const EPOCH: Duration = Duration::from_millis(200);

/// For `period`, a tree made anew every [`EPOCH`], raced by four threads (each with its
/// own generator, from the soak's seed): one makes and drops child sets and grandchildren,
/// one starts named runs on them, one drains them, one reports on them. At the end of each
/// tree: a report on its root, then nothing may run and nothing may record.
fn all_at_once(period: Duration) {
    let rt = runtime();
    let seed = soak_seed(7);
    let start = std::time::Instant::now();
    let mut trees = 0;
    while start.elapsed() < period {
        one_tree(&rt, seed + trees * 4);
        trees += 1;
    }
    println!("{trees} trees raced (seed {seed})");
}

/// One tree of [`all_at_once`].
fn one_tree(rt: &Runtime, seed: u64) {
    let svc = Tasks::new("svc");
    let sets = Arc::new(std::sync::Mutex::new(vec![svc.clone()]));
    let pick = |sets: &std::sync::Mutex<Vec<Tasks>>, rng: &mut Rng| {
        let sets = sets.lock().unwrap();
        sets[rng.below(sets.len() as u64) as usize].clone()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (alive, heartbeat) = mpsc::channel::<()>();
    let racers: Vec<std::thread::JoinHandle<()>> = (0..4u64)
        .map(|racer| {
            let (sets, stop, alive, handle) = (
                Arc::clone(&sets),
                Arc::clone(&stop),
                alive.clone(),
                rt.handle().clone(),
            );
            std::thread::spawn(move || {
                let _runtime = handle.enter();
                let mut rng = Rng(seed + racer);
                while !stop.load(Ordering::Relaxed) {
                    let set = pick(&sets, &mut rng);
                    match racer {
                        // Children and grandchildren, made and dropped (at most 16 held).
                        0 => {
                            let mut held = sets.lock().unwrap();
                            if held.len() > 16 || (held.len() > 1 && rng.below(3) == 0) {
                                let at = 1 + rng.below(held.len() as u64 - 1) as usize;
                                held.swap_remove(at);
                            } else {
                                drop(held);
                                let child = set.child("child");
                                sets.lock().unwrap().push(child);
                            }
                        }
                        // Named runs: some end soon, some when canceled, some never.
                        1 => match rng.below(3) {
                            0 => set.run(&Context::background(), named_until_done("polite")),
                            1 => set.run(
                                &Context::background(),
                                Func::named("quick", |_ctx| async {
                                    tokio::task::yield_now().await;
                                    Ok(())
                                }),
                            ),
                            _ => set.run(&Context::background(), named_stubborn("stubborn")),
                        },
                        // Drains: timed out at once, or started and dropped.
                        2 => {
                            if rng.below(2) == 0 {
                                let _ = handle.block_on(set.drain(Duration::ZERO));
                            } else {
                                drop(set.drain(LIMIT).now_or_never());
                            }
                        }
                        // Reports: short, or started and dropped; seldom on the root.
                        _ => {
                            if set.path() == "svc" && rng.below(8) != 0 {
                                continue;
                            }
                            if rng.below(2) == 0 {
                                let _ =
                                    handle.block_on(set.shutdown_report(Duration::from_millis(1)));
                            } else {
                                drop(set.shutdown_report(LIMIT).now_or_never());
                            }
                        }
                    }
                    let _ = alive.send(());
                }
            })
        })
        .collect();
    drop(alive);
    let epoch = std::time::Instant::now();
    while epoch.elapsed() < EPOCH {
        heartbeat
            .recv_timeout(HANG)
            .expect("a racer did not come back: something hangs");
    }
    stop.store(true, Ordering::Relaxed);
    for racer in racers {
        racer.join().unwrap();
    }
    let report = rt.block_on(async {
        tokio::time::timeout(LIMIT, svc.shutdown_report(Duration::from_millis(50)))
            .await
            .expect("the last report returned")
    });
    // The unnamed runs are none; the stubborn ones were aborted, and are gone.
    assert_eq!(report.unlisted_running, 0, "{report}");
    assert_eq!(svc.running(), 0, "{report}");
    assert_eq!(probes::collectors(&svc), 0, "something still records");
    for set in sets.lock().unwrap().iter() {
        assert_eq!(probes::collectors(set), 0, "{} still records", set.path());
    }
}
