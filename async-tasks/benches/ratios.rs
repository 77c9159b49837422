//! Side-by-side ratios: every figure runs async-tasks and its hand-written tokio/tracing
//! anchor in the same process, interleaved round by round (ABAB, then BABA), and reports the
//! median ratio ours / anchor with its min–max. Absolute times are printed for orientation
//! only: on a shared 2-core machine only the ratios mean anything.
//!
//! Run: `cargo bench -p async-tasks --bench ratios` (all figures), or pass a filter:
//! `cargo bench -p async-tasks --bench ratios -- mutex`. `ROUNDS=31` changes the number of
//! rounds (default 15).
//!
//! The memory figure runs each side in a fresh child process (this same binary, re-executed
//! with `RATIOS_CHILD=<side>`), so that neither side inherits the other's freed memory.
//!
//! `INSTRUCTIONS=1` counts instructions instead of time, with valgrind's callgrind: one side
//! of one figure per child process, run once and twice, the difference divided by the units
//! of work. Instruction counts do not depend on what else the machine is doing, so these
//! ratios repeat exactly; they do not see cache misses or the cost of atomics, which the
//! timed ratios do.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_tasks::{BoxError, Context, Func, MutexWithContext, Runner, Tasks, async_trait};
use tokio::runtime::{Builder, Runtime};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// One side of a figure: runs the workload once and returns (elapsed, units of work done).
type Side = Box<dyn FnMut() -> (Duration, u64)>;

/// A figure to measure: name, target ratio, unit, how to build its two sides, and whether
/// it can be counted in instructions.
struct Spec(&'static str, f64, &'static str, fn() -> (Side, Side), bool);

struct Figure {
    name: &'static str,
    target: f64,
    unit: &'static str,
    ours: Side,
    anchor: Side,
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A subscriber that records INFO spans, as a production registry would.
fn info_subscriber() -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO),
    )
}

/// Runs `f` with `dispatch` as the default subscriber if given.
fn with_dispatch<T>(dispatch: &Option<tracing::Dispatch>, f: impl FnOnce() -> T) -> T {
    match dispatch {
        Some(d) => tracing::dispatcher::with_default(d, f),
        None => f(),
    }
}

struct Trivial;

#[async_trait]
impl Runner for Trivial {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        Ok(())
    }
}

const WAVE: usize = 1_000;
const WAVES: usize = 60;

fn spawn_figures(subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        let tasks = Tasks::new("bench");
        let ctx = Context::background();
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..WAVES {
                        for _ in 0..WAVE {
                            tasks.run(&ctx, Trivial);
                        }
                        tasks.wait().await;
                    }
                    (start.elapsed(), (WAVE * WAVES) as u64)
                })
            })
        })
    };
    let anchor = tracker_waves(rt, dispatch, move |tracker| {
        if subscriber {
            tracker.spawn(async {}.instrument(tracing::info_span!(
                "task",
                task.name = "bench",
                otel.name = "bench"
            )));
        } else {
            tracker.spawn(async {});
        }
    });
    (ours, anchor)
}

/// The floor of a spawn under the contract, as a stand-in "ours": what any `Tasks::run`
/// must do per task (a context for the run that its `Tasks` can cancel: a clone of a
/// context node; the runner's boxed future; a `"task"` span around it; a caught panic),
/// against the same anchor as the spawn figure.
fn spawn_floor() -> (Side, Side) {
    use futures_util::FutureExt;
    let rt = Arc::new(current_thread());
    let (ctx, _cancel) = Context::background().with_cancel();
    let floor = tracker_waves(Arc::clone(&rt), None, move |tracker| {
        let ctx = ctx.clone();
        let span = tracing::info_span!("task", task.name = "bench", otel.name = "bench");
        tracker.spawn(
            async move {
                let _ = std::panic::AssertUnwindSafe(Trivial.run(ctx))
                    .catch_unwind()
                    .await;
            }
            .instrument(span),
        );
    });
    let anchor = tracker_waves(rt, None, |tracker| {
        tracker.spawn(async {});
    });
    (floor, anchor)
}

/// A side that spawns `WAVES` waves of `WAVE` tasks with `spawn_one` on a fresh
/// `TaskTracker` each, then closes and waits for it: the anchor's way of spawning.
fn tracker_waves(
    rt: Arc<Runtime>,
    dispatch: Option<tracing::Dispatch>,
    spawn_one: impl Fn(&TaskTracker) + 'static,
) -> Side {
    Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..WAVES {
                    let tracker = TaskTracker::new();
                    for _ in 0..WAVE {
                        spawn_one(&tracker);
                    }
                    tracker.close();
                    tracker.wait().await;
                }
                (start.elapsed(), (WAVE * WAVES) as u64)
            })
        })
    })
}

const ITERATIONS: u64 = 600_000;

fn loop_figures(subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let tasks = Tasks::new("bench");
                    let (ctx, cancel) = Context::background().with_cancel();
                    let count = Arc::new(AtomicU64::new(0));
                    let seen = Arc::clone(&count);
                    let start = Instant::now();
                    tasks.run_loop(
                        &ctx,
                        Func::new(move |_ctx| {
                            if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                                cancel.cancel();
                            }
                            std::future::ready(Ok(()))
                        }),
                    );
                    tasks.wait().await;
                    (start.elapsed(), count.load(Ordering::Relaxed))
                })
            })
        })
    };
    let anchor: Side = Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let tracker = TaskTracker::new();
                let token = CancellationToken::new();
                let count = Arc::new(AtomicU64::new(0));
                let (seen, stop) = (Arc::clone(&count), token.clone());
                let start = Instant::now();
                tracker.spawn(async move {
                    while !stop.is_cancelled() {
                        let body = async {
                            if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                                stop.cancel();
                            }
                        };
                        if subscriber {
                            body.instrument(tracing::info_span!(
                                "task",
                                task.name = "bench",
                                otel.name = "bench"
                            ))
                            .await;
                        } else {
                            body.await;
                        }
                    }
                });
                tracker.close();
                tracker.wait().await;
                (start.elapsed(), count.load(Ordering::Relaxed))
            })
        })
    });
    (ours, anchor)
}

const CALLS: u64 = 600_000;

/// The generated runner of the `#[async_task]` figure.
#[async_tasks::async_task(name = "bench-call")]
async fn generated_call(_ctx: Context, n: u64) -> Result<(), BoxError> {
    black_box(n);
    Ok(())
}

/// The anchor of the `#[async_task]` figure: a hand-written runner doing the same span work
/// (a span per call with the four failure fields, entered while the body is polled, a panic
/// caught to be recorded and resumed, the error recorded on failure).
struct HandWritten {
    n: u64,
}

#[async_trait]
impl Runner for HandWritten {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        use futures_util::FutureExt;
        let n = self.n;
        let span = tracing::info_span!(
            "bench-call",
            error = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            panic = tracing::field::Empty,
        );
        let body = async move {
            black_box(n);
            Ok::<(), BoxError>(())
        };
        let mut body = std::pin::pin!(body.instrument(span));
        match std::panic::AssertUnwindSafe(body.as_mut())
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                body.span().record("error", err.to_string().as_str());
                Err(err)
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

fn call_figures(subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let runner = generated_call(7);
                    let ctx = Context::background();
                    let start = Instant::now();
                    for _ in 0..CALLS {
                        black_box(&runner).run(ctx.clone()).await.unwrap();
                    }
                    (start.elapsed(), CALLS)
                })
            })
        })
    };
    let anchor: Side = Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let runner = HandWritten { n: 7 };
                let ctx = Context::background();
                let start = Instant::now();
                for _ in 0..CALLS {
                    black_box(&runner).run(ctx.clone()).await.unwrap();
                }
                (start.elapsed(), CALLS)
            })
        })
    });
    (ours, anchor)
}

/// The floor of a loop iteration under the contract, as a stand-in "ours": the least any
/// `run_loop` must do per iteration (check the context, clone it for the runner, call the
/// runner through the trait, which boxes its future, and spend tokio's coop budget so that
/// it cannot starve the runtime), against the same anchor as the loop figures.
fn loop_floor() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let floor: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let tracker = TaskTracker::new();
                let (ctx, cancel) = Context::background().with_cancel();
                let count = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&count);
                let runner = Func::new(move |_ctx| {
                    if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                        cancel.cancel();
                    }
                    std::future::ready(Ok(()))
                });
                let start = Instant::now();
                tracker.spawn(async move {
                    while !ctx.is_done() {
                        if runner.run(ctx.clone()).await.is_err() {
                            break;
                        }
                        tokio::task::consume_budget().await;
                    }
                });
                tracker.close();
                tracker.wait().await;
                (start.elapsed(), count.load(Ordering::Relaxed))
            })
        })
    };
    let (_, anchor) = loop_figures(false);
    (floor, anchor)
}

const LOCKS: u64 = 600_000;

fn mutex_uncontended() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let mutex = MutexWithContext::new(0_u64);
                let (ctx, _cancel) = Context::background().with_cancel();
                let start = Instant::now();
                for _ in 0..LOCKS {
                    *black_box(&mutex).lock(&ctx).await.unwrap() += 1;
                }
                (start.elapsed(), LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = tokio::sync::Mutex::new(0_u64);
            let start = Instant::now();
            for _ in 0..LOCKS {
                *black_box(&mutex).lock().await += 1;
            }
            (start.elapsed(), LOCKS)
        })
    });
    (ours, anchor)
}

const CONTENDERS: u64 = 8;
const CONTENDED_LOCKS: u64 = 50_000;

fn mutex_contended() -> (Side, Side) {
    let rt = Arc::new(multi_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let mutex = Arc::new(MutexWithContext::new(0_u64));
                let (ctx, _cancel) = Context::background().with_cancel();
                let start = Instant::now();
                let handles: Vec<_> = (0..CONTENDERS)
                    .map(|_| {
                        let (mutex, ctx) = (Arc::clone(&mutex), ctx.clone());
                        tokio::spawn(async move {
                            for _ in 0..CONTENDED_LOCKS {
                                *mutex.lock(&ctx).await.unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.unwrap();
                }
                assert_eq!(*mutex.try_lock().unwrap(), CONTENDERS * CONTENDED_LOCKS);
                (start.elapsed(), CONTENDERS * CONTENDED_LOCKS)
            })
        })
    };
    let anchor: Side = Box::new(move || {
        rt.block_on(async {
            let mutex = Arc::new(tokio::sync::Mutex::new(0_u64));
            let start = Instant::now();
            let handles: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let mutex = Arc::clone(&mutex);
                    tokio::spawn(async move {
                        for _ in 0..CONTENDED_LOCKS {
                            *mutex.lock().await += 1;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            (start.elapsed(), CONTENDERS * CONTENDED_LOCKS)
        })
    });
    (ours, anchor)
}

const PARKED_LOOPS: usize = 10_000;

/// From `cancel()` to `wait()` returning, for loops parked in a one-hour sleep.
fn cancel_latency() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let rt = Arc::clone(&rt);
        Box::new(move || {
            rt.block_on(async {
                let tasks = Tasks::new("bench");
                let (ctx, cancel) = Context::background().with_cancel();
                for _ in 0..PARKED_LOOPS {
                    tasks.run_loop(
                        &ctx,
                        Func::new(|ctx| async move {
                            async_tasks::sleep(&ctx, Duration::from_secs(3600)).await?;
                            Ok(())
                        }),
                    );
                }
                // Let every loop reach its sleep.
                tokio::task::yield_now().await;
                let start = Instant::now();
                cancel.cancel();
                tasks.wait().await;
                (start.elapsed(), PARKED_LOOPS as u64)
            })
        })
    };
    let anchor = token_loops(rt, false);
    (ours, anchor)
}

/// The floor of cancel latency under the contract, as a stand-in "ours": loops as the
/// anchor's, but each waiting on a context of its own (a child token of the caller's, as a
/// task's context is a child of its caller's), against the same anchor.
fn cancel_floor() -> (Side, Side) {
    let rt = Arc::new(current_thread());
    (token_loops(Arc::clone(&rt), true), token_loops(rt, false))
}

/// A side with `PARKED_LOOPS` anchor loops (a `select!` of a token and a one-hour sleep),
/// timed from the token's `cancel()` to the tracker's `wait()`. With `own_token`, each loop
/// waits on a child token of its own rather than a clone of the one token.
fn token_loops(rt: Arc<Runtime>, own_token: bool) -> Side {
    Box::new(move || {
        rt.block_on(async {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            for _ in 0..PARKED_LOOPS {
                let token = if own_token {
                    token.child_token()
                } else {
                    token.clone()
                };
                tracker.spawn(async move {
                    while !token.is_cancelled() {
                        tokio::select! {
                            () = token.cancelled() => {}
                            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                        }
                    }
                });
            }
            tracker.close();
            tokio::task::yield_now().await;
            let start = Instant::now();
            token.cancel();
            tracker.wait().await;
            (start.elapsed(), PARKED_LOOPS as u64)
        })
    })
}

const PARKED_TASKS: usize = 100_000;

/// Resident set size of this process, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Child side of the memory figure: parks `PARKED_TASKS` tasks and prints bytes per task.
fn memory_child(side: &str) {
    let rt = current_thread();
    rt.block_on(async {
        let before = rss();
        let after = if side == "ours" {
            let tasks = Tasks::new("bench");
            let (ctx, cancel) = Context::background().with_cancel();
            for _ in 0..PARKED_TASKS {
                tasks.run(
                    &ctx,
                    Func::new(|ctx| async move {
                        ctx.done().await;
                        Ok(())
                    }),
                );
            }
            tokio::task::yield_now().await;
            let after = rss();
            cancel.cancel();
            tasks.wait().await;
            after
        } else {
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            for _ in 0..PARKED_TASKS {
                let token = token.clone();
                tracker.spawn(async move { token.cancelled().await });
            }
            tokio::task::yield_now().await;
            let after = rss();
            token.cancel();
            tracker.close();
            tracker.wait().await;
            after
        };
        println!("{}", after.saturating_sub(before) / PARKED_TASKS as u64);
    });
}

fn memory_side(side: &'static str) -> Side {
    Box::new(move || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("RATIOS_CHILD", side)
            .output()
            .unwrap();
        let bytes: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // Reported as a "duration" of one nanosecond per byte so that the ratio machinery
        // applies unchanged.
        (Duration::from_nanos(bytes), 1)
    })
}

/// "≤ target ✓/✗", or "—" for an informational figure (a NaN target).
fn verdict(ratio: f64, target: f64) -> String {
    if target.is_nan() {
        "—".to_owned()
    } else {
        format!("≤ {target} {}", if ratio <= target { "✓" } else { "✗" })
    }
}

fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

/// Every figure, in the order of the table. The last field says whether the figure can be
/// counted in instructions: only those whose timed region is the whole side (not the
/// cancel-latency one, whose setup dominates, nor the multi-thread one, which callgrind
/// serialises, nor memory).
fn figures() -> Vec<Spec> {
    vec![
        Spec(
            "spawn, no subscriber",
            1.4,
            "ns/task",
            || spawn_figures(false),
            true,
        ),
        Spec(
            "(spawn floor, no subscriber)",
            f64::NAN,
            "ns/task",
            spawn_floor,
            true,
        ),
        Spec(
            "spawn, INFO subscriber",
            1.2,
            "ns/task",
            || spawn_figures(true),
            true,
        ),
        Spec(
            "loop iteration, no subscriber",
            2.6,
            "ns/iter",
            || loop_figures(false),
            true,
        ),
        Spec(
            "loop iteration, INFO subscriber",
            1.35,
            "ns/iter",
            || loop_figures(true),
            true,
        ),
        Spec(
            "(loop iteration floor, no subscriber)",
            f64::NAN,
            "ns/iter",
            loop_floor,
            true,
        ),
        Spec(
            "mutex uncontended lock+unlock",
            0.6,
            "ns/lock",
            mutex_uncontended,
            true,
        ),
        Spec(
            "mutex contended, 8 tasks x 50k, 2 workers",
            1.75,
            "ns/lock",
            mutex_contended,
            false,
        ),
        Spec(
            "cancel latency, 10k parked loops",
            1.5,
            "ns/loop",
            cancel_latency,
            false,
        ),
        Spec(
            "(cancel latency floor: a context per loop)",
            f64::NAN,
            "ns/loop",
            cancel_floor,
            false,
        ),
        Spec(
            "#[async_task] run, no subscriber",
            1.1,
            "ns/call",
            || call_figures(false),
            true,
        ),
        Spec(
            "#[async_task] run, INFO subscriber",
            1.1,
            "ns/call",
            || call_figures(true),
            true,
        ),
        Spec(
            "memory per parked task",
            1.6,
            "bytes/task",
            || (memory_side("ours"), memory_side("anchor")),
            false,
        ),
    ]
}

fn main() {
    if let Ok(side) = std::env::var("RATIOS_CHILD") {
        memory_child(&side);
        return;
    }
    if let Ok(spec) = std::env::var("RATIOS_INSTRUCTIONS_CHILD") {
        instructions_child(&spec);
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let instructions = std::env::var_os("INSTRUCTIONS").is_some();

    if instructions {
        println!("| figure | ours | anchor | ratio | target |");
    } else {
        println!("| figure | ours | anchor | ratio median (min–max) | target |");
    }
    println!("|---|---|---|---|---|");
    for (index, Spec(name, target, unit, make, countable)) in figures().into_iter().enumerate() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if instructions {
            if countable {
                report_instructions(index, name, target);
            }
            continue;
        }
        let (ours, anchor) = make();
        let mut figure = Figure {
            name,
            target,
            unit,
            ours,
            anchor,
        };
        report(&mut figure, rounds);
    }
}

/// Child side of the instruction count: runs one side of one figure `reps` times and
/// prints the units of work of one run.
fn instructions_child(spec: &str) {
    let mut parts = spec.split(':');
    let (Some(index), Some(side), Some(reps)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("RATIOS_INSTRUCTIONS_CHILD is index:side:reps");
    };
    let Spec(.., make, _) = figures().swap_remove(index.parse().unwrap());
    let (mut ours, mut anchor) = make();
    let run = if side == "ours" {
        &mut ours
    } else {
        &mut anchor
    };
    let mut units = 0;
    for _ in 0..reps.parse::<u32>().unwrap() {
        units = run().1;
    }
    println!("{units}");
}

/// Instructions (callgrind's `Ir`) of one run of `side`: the count for two runs minus the
/// count for one, so that start-up and warm-up cancel out. Returns (instructions, units).
fn count_instructions(index: usize, side: &str) -> (u64, u64) {
    let collected = |reps: u32| -> (u64, u64) {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(std::env::current_exe().unwrap())
            .env(
                "RATIOS_INSTRUCTIONS_CHILD",
                format!("{index}:{side}:{reps}"),
            )
            .output()
            .expect("INSTRUCTIONS=1 needs valgrind on the PATH");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let count = stderr
            .lines()
            .find_map(|line| line.split("Collected : ").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no instruction count from callgrind:\n{stderr}"));
        let units = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        (count, units)
    };
    let (one, units) = collected(1);
    let (two, _) = collected(2);
    (two.saturating_sub(one), units)
}

fn report_instructions(index: usize, name: &str, target: f64) {
    let (ours, ours_units) = count_instructions(index, "ours");
    let (anchor, anchor_units) = count_instructions(index, "anchor");
    let ours = ours as f64 / ours_units as f64;
    let anchor = anchor as f64 / anchor_units as f64;
    let ratio = ours / anchor;
    println!(
        "| {name} | {ours:.0} instr/unit | {anchor:.0} instr/unit | **{ratio:.2}** | {} |",
        verdict(ratio, target)
    );
}

fn report(figure: &mut Figure, rounds: usize) {
    // One warm-up round of each side.
    (figure.ours)();
    (figure.anchor)();
    let (mut ratios, mut ours_ns, mut anchor_ns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let per_unit = |(elapsed, units): (Duration, u64)| elapsed.as_nanos() as f64 / units as f64;
        let (a, b) = if round % 2 == 0 {
            let a = per_unit((figure.ours)());
            (a, per_unit((figure.anchor)()))
        } else {
            let b = per_unit((figure.anchor)());
            (per_unit((figure.ours)()), b)
        };
        ours_ns.push(a);
        anchor_ns.push(b);
        ratios.push(a / b);
    }
    for v in [&mut ratios, &mut ours_ns, &mut anchor_ns] {
        v.sort_by(f64::total_cmp);
    }
    let ratio = median(&ratios);
    println!(
        "| {} | {:.0} {unit} | {:.0} {unit} | **{ratio:.2}** ({:.2}–{:.2}) | {} |",
        figure.name,
        median(&ours_ns),
        median(&anchor_ns),
        ratios[0],
        ratios[ratios.len() - 1],
        verdict(ratio, figure.target),
        unit = figure.unit,
    );
}
