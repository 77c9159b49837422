//! Side-by-side ratios: every figure runs async-tasks and its hand-written tokio/tracing
//! anchor in the same process, interleaved round by round (ABAB, then BABA), and reports the
//! median ratio ours / anchor with its min–max, of the wall time and of the CPU time of the
//! whole process (every thread: on a multi-thread runtime, both workers and the thread in
//! `block_on`; see `clock.rs`). Absolute times are printed for orientation only: on a shared
//! 2-core machine only the ratios mean anything.
//!
//! Figures that depend on the scheduler (loops, spawns, cancels) run on a current-thread
//! runtime and again on a multi-thread one with 2 workers (`, 2 workers` in the name), the
//! runtime `#[tokio::main]` gives users.
//!
//! Run: `cargo bench -p async-tasks --bench ratios` (all figures), or pass a filter:
//! `cargo bench -p async-tasks --bench ratios -- mutex`. `ROUNDS=31` changes the number of
//! rounds (default 15). Diagnostic figures (the costs of a loop iteration, one at a time)
//! run only when a filter names them: `-- "loop cost"`.
//!
//! The memory figure runs each side in a fresh child process (this same binary, re-executed
//! with `RATIOS_CHILD=<side>`), so that neither side inherits the other's freed memory.
//!
//! `INSTRUCTIONS=1` counts instructions instead of time, with valgrind's callgrind: one side
//! of one figure per child process, run once and twice, the difference divided by the units
//! of work. Instruction counts do not depend on what else the machine is doing, so these
//! ratios repeat exactly; they do not see cache misses or the cost of atomics, which the
//! timed ratios do. The child is this binary with `RATIOS_INSTRUCTIONS_CHILD=<figure
//! name>:<ours|anchor>:<runs>`; run it under callgrind by hand to see where the
//! instructions go, function by function:
//!
//! ```sh
//! RATIOS_INSTRUCTIONS_CHILD='loop iteration, INFO subscriber:ours:2' \
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg target/release/deps/ratios-<hash>
//! callgrind_annotate /tmp/cg
//! ```
//!
//! One module per family of figures, each with its anchors and floors: `spawn`, `pool`,
//! `loops` (and the `loop_costs` diagnostics), `mutex`, `cancel`, `calls`, `memory`;
//! `setup` holds what they share (runtimes, the subscriber, a trivial runner), `clock` how a
//! side is timed. This file is the harness: the figures' order, the rounds, the child
//! processes, callgrind, the table.

use std::time::Duration;

mod calls;
mod cancel;
mod clock;
mod loop_costs;
mod loops;
mod memory;
mod mutex;
mod pool;
mod setup;
mod singleton;
mod spawn;

pub(crate) use clock::{Clock, Sample};

/// One side of a figure: runs the workload once and returns what its timed region measured
/// (a [`Clock`] started and stopped around it).
pub(crate) type Side = Box<dyn FnMut() -> Sample>;

/// A figure to measure: its name, target ratio (NaN for an informational figure: a floor
/// or a diagnostic), unit, how to build its two sides (ours, then the anchor), whether it
/// can be counted in instructions, whether it runs only when a filter names it, and whether
/// it is a time (or an amount, bytes, with no CPU time).
pub(crate) struct Spec {
    name: &'static str,
    target: f64,
    unit: &'static str,
    sides: fn() -> (Side, Side),
    countable: bool,
    on_request: bool,
    timed: bool,
}

impl Spec {
    /// A figure timed and counted in instructions: its timed region is the whole side.
    pub(crate) fn counted(
        name: &'static str,
        target: f64,
        unit: &'static str,
        sides: fn() -> (Side, Side),
    ) -> Spec {
        Spec {
            name,
            target,
            unit,
            sides,
            countable: true,
            on_request: false,
            timed: true,
        }
    }

    /// A figure only timed: its setup dominates the side, or callgrind would serialise its
    /// threads, or it is not a time at all (memory).
    pub(crate) fn timed(
        name: &'static str,
        target: f64,
        unit: &'static str,
        sides: fn() -> (Side, Side),
    ) -> Spec {
        Spec {
            countable: false,
            ..Spec::counted(name, target, unit, sides)
        }
    }

    /// A figure that is an amount (bytes), not a time: no CPU time, not counted.
    pub(crate) fn amount(
        name: &'static str,
        target: f64,
        unit: &'static str,
        sides: fn() -> (Side, Side),
    ) -> Spec {
        Spec {
            timed: false,
            ..Spec::timed(name, target, unit, sides)
        }
    }

    /// Left out of a whole run: runs only when a filter names it.
    pub(crate) fn on_request(self) -> Spec {
        Spec {
            on_request: true,
            ..self
        }
    }

    fn selected(&self, filter: &[String]) -> bool {
        if filter.is_empty() {
            !self.on_request
        } else {
            filter.iter().any(|f| self.name.contains(f.as_str()))
        }
    }
}

/// Every figure, in the order of the table.
fn figures() -> Vec<Spec> {
    [
        spawn::figures(),
        pool::figures(),
        loops::figures(),
        loop_costs::figures(),
        singleton::figures(),
        mutex::figures(),
        cancel::figures(),
        calls::figures(),
        memory::figures(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() {
    if let Ok(side) = std::env::var("RATIOS_CHILD") {
        memory::child(&side);
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
        println!("|---|---|---|---|---|");
    } else {
        println!(
            "| figure | ours: wall, CPU | anchor: wall, CPU | wall ratio, median (min–max) | CPU ratio, median (min–max) | target |"
        );
        println!("|---|---|---|---|---|---|");
    }
    for spec in figures() {
        if !spec.selected(&filter) {
            continue;
        }
        if instructions {
            if spec.countable {
                report_instructions(&spec);
            }
            continue;
        }
        report(&spec, rounds);
    }
}

/// Child side of the instruction count: runs one side of one figure `reps` times and
/// prints the units of work of one run.
fn instructions_child(spec: &str) {
    // The figure's name may hold a colon: split from the end.
    let mut parts = spec.rsplitn(3, ':');
    let (Some(reps), Some(side), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("RATIOS_INSTRUCTIONS_CHILD is <figure name>:<ours|anchor>:<runs>");
    };
    let spec = figures()
        .into_iter()
        .find(|spec| spec.name == name)
        .unwrap_or_else(|| panic!("no figure named {name:?}"));
    let (mut ours, mut anchor) = (spec.sides)();
    let run = if side == "ours" {
        &mut ours
    } else {
        &mut anchor
    };
    let mut units = 0;
    for _ in 0..reps.parse::<u32>().unwrap() {
        units = run().units;
    }
    println!("{units}");
}

/// Instructions (callgrind's `Ir`) of one run of `side`: the count for two runs minus the
/// count for one, so that start-up and warm-up cancel out. Returns (instructions, units).
fn count_instructions(name: &str, side: &str) -> (u64, u64) {
    let collected = |reps: u32| -> (u64, u64) {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(std::env::current_exe().unwrap())
            .env("RATIOS_INSTRUCTIONS_CHILD", format!("{name}:{side}:{reps}"))
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

fn report_instructions(spec: &Spec) {
    let (ours, ours_units) = count_instructions(spec.name, "ours");
    let (anchor, anchor_units) = count_instructions(spec.name, "anchor");
    let ours = ours as f64 / ours_units as f64;
    let anchor = anchor as f64 / anchor_units as f64;
    let ratio = ours / anchor;
    println!(
        "| {} | {ours:.0} instr/unit | {anchor:.0} instr/unit | **{ratio:.2}** | {} |",
        spec.name,
        verdict(ratio, spec.target)
    );
}

fn report(spec: &Spec, rounds: usize) {
    let (mut ours, mut anchor) = (spec.sides)();
    // One warm-up round of each side.
    ours();
    anchor();
    let mut wall = Series::default();
    let mut cpu = Series::default();
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = ours();
            (a, anchor())
        } else {
            let b = anchor();
            (ours(), b)
        };
        wall.push(a.wall, a.units, b.wall, b.units);
        cpu.push(a.cpu, a.units, b.cpu, b.units);
    }
    let (wall, cpu) = (wall.sorted(), cpu.sorted());
    let unit = spec.unit;
    if spec.timed {
        println!(
            "| {} | {:.0}, {:.0} {unit} | {:.0}, {:.0} {unit} | **{:.2}** ({:.2}–{:.2}) | **{:.2}** ({:.2}–{:.2}) | {} |",
            spec.name,
            median(&wall.ours),
            median(&cpu.ours),
            median(&wall.anchor),
            median(&cpu.anchor),
            median(&wall.ratios),
            wall.ratios[0],
            wall.ratios[wall.ratios.len() - 1],
            median(&cpu.ratios),
            cpu.ratios[0],
            cpu.ratios[cpu.ratios.len() - 1],
            verdicts(median(&wall.ratios), median(&cpu.ratios), spec.target),
        );
    } else {
        println!(
            "| {} | {:.0} {unit} | {:.0} {unit} | **{:.2}** ({:.2}–{:.2}) | — | {} |",
            spec.name,
            median(&wall.ours),
            median(&wall.anchor),
            median(&wall.ratios),
            wall.ratios[0],
            wall.ratios[wall.ratios.len() - 1],
            verdict(median(&wall.ratios), spec.target),
        );
    }
}

/// One clock's figures over the rounds: each side's time per unit, and their ratio.
#[derive(Default)]
struct Series {
    ours: Vec<f64>,
    anchor: Vec<f64>,
    ratios: Vec<f64>,
}

impl Series {
    fn push(&mut self, ours: Duration, ours_units: u64, anchor: Duration, anchor_units: u64) {
        let per_unit = |t: Duration, units: u64| t.as_nanos() as f64 / units as f64;
        let (a, b) = (per_unit(ours, ours_units), per_unit(anchor, anchor_units));
        self.ours.push(a);
        self.anchor.push(b);
        self.ratios.push(a / b);
    }

    fn sorted(mut self) -> Series {
        for v in [&mut self.ours, &mut self.anchor, &mut self.ratios] {
            v.sort_by(f64::total_cmp);
        }
        self
    }
}

/// The target with a verdict for each clock: "≤ 1.4: wall ✓, CPU ✗", or "—".
fn verdicts(wall: f64, cpu: f64, target: f64) -> String {
    if target.is_nan() {
        return "—".to_owned();
    }
    let mark = |ratio: f64| if ratio <= target { "✓" } else { "✗" };
    format!("≤ {target}: wall {}, CPU {}", mark(wall), mark(cpu))
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
