//! How a side is timed: its wall time, and the CPU time of the whole process over the same
//! region (every thread: a multi-thread runtime's workers and the thread in `block_on`).
//!
//! The CPU time is read from Linux's scheduler statistics, `/proc/self/task/<tid>/schedstat`,
//! whose first field is the nanoseconds the thread has run (`sum_exec_runtime`): no
//! dependency and no `unsafe`, and nanosecond-exact where `/proc/self/stat`'s `utime` and
//! `stime` count 10 ms ticks. The kernel brings a thread's figure up to date when the thread
//! leaves the CPU (or at a scheduler tick while it runs), so the clock reads it when no thread
//! is running: its own after a `yield_now` (which charges the time run so far), the others
//! once they are parked, which a runtime's workers are within microseconds of running out of
//! work ([`settle`]).
//!
//! Threads are matched by id between the two readings: a thread that ends during the
//! region (an earlier figure's runtime shutting down) takes its time with it, rather than
//! taking its whole past from the sum.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one run of a side measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// Wall time of the timed region.
    pub(crate) wall: Duration,
    /// CPU time of every thread of the process over the timed region.
    pub(crate) cpu: Duration,
    /// Units of work done in the region (tasks, iterations, locks...).
    pub(crate) units: u64,
}

impl Sample {
    /// A figure that is not a time (bytes): the amount stands in for both clocks.
    pub(crate) fn amount(amount: u64) -> Sample {
        let amount = Duration::from_nanos(amount);
        Sample {
            wall: amount,
            cpu: amount,
            units: 1,
        }
    }
}

/// A timed region, started by [`Clock::start`] and ended by [`Clock::stop`].
pub(crate) struct Clock {
    cpu: BTreeMap<u32, u64>,
    wall: Instant,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        settle();
        let cpu = threads_cpu();
        Clock {
            cpu,
            wall: Instant::now(),
        }
    }

    pub(crate) fn stop(self, units: u64) -> Sample {
        let wall = self.wall.elapsed();
        settle();
        let end = threads_cpu();
        let ns: u64 = end
            .iter()
            .map(|(tid, &now)| now.saturating_sub(self.cpu.get(tid).copied().unwrap_or(0)))
            .sum();
        Sample {
            wall,
            cpu: Duration::from_nanos(ns),
            units,
        }
    }
}

/// The nanoseconds each thread of this process has run, by thread id, this thread's
/// brought up to date first.
fn threads_cpu() -> BTreeMap<u32, u64> {
    // A yield goes through the scheduler, which charges this thread's time since its last
    // tick to `sum_exec_runtime`.
    std::thread::yield_now();
    tasks()
        .filter_map(|tid| {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
            Some((tid, stat.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// Waits (at most about 10 ms) until no other thread of the process is running, so that
/// their CPU time is up to date when read. A runtime's worker parks within microseconds of
/// running out of work.
fn settle() {
    let me = own_tid();
    for _ in 0..100 {
        let running = tasks().filter(|&tid| Some(tid) != me).any(|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .ok()
                .and_then(|stat| {
                    // The state follows the command name, which is in parentheses and may
                    // hold spaces.
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().next().map(|state| state == "R")
                })
                .unwrap_or(false)
        });
        if !running {
            return;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn tasks() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc/self/task")
        .expect("the CPU clock reads Linux's /proc/self/task")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

/// This thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn own_tid() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}
