//! Memory per parked task: each side in a fresh child process (this binary, re-executed
//! with `RATIOS_CHILD=<side>`), so that neither inherits the other's freed memory.

use async_tasks::{Context, Func, Tasks};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::setup::current_thread;
use crate::{Sample, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![Spec::amount(
        "memory per parked task",
        1.4,
        "bytes/task",
        || (side("ours"), side("anchor")),
    )]
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
pub(crate) fn child(side: &str) {
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

fn side(side: &'static str) -> Side {
    Box::new(move || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("RATIOS_CHILD", side)
            .output()
            .unwrap();
        let bytes: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Sample::amount(bytes)
    })
}
