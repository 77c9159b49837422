//! The listed tasks of one `Tasks`: what [`Tasks::snapshot`](crate::Tasks::snapshot) shows
//! and [`Tasks::shutdown_report`](crate::Tasks::shutdown_report) names and aborts.
//!
//! Listed are every loop and background task (few and long-lived: listing costs them
//! nothing that matters) and every one-shot run whose runner has a
//! [`name`](crate::Runner::name). Unnamed one-shot runs are only counted (by the tracker):
//! they are the hot path, and listing one costs two lock round trips, a clock read and an
//! abort handle.
//!
//! Invariants:
//! - a task is listed from just before it is spawned until its future is dropped (finished,
//!   aborted, or dropped with its runtime), by the [`Listed`] guard that the future owns;
//! - a slot is reused only after its task has left, so a guard never removes someone else;
//! - while a shutdown report is being made (`ended` is `Some`), every listed task that ends
//!   adds how it ended, exactly once (the guard records, then removes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::loom::{Mutex, lock};
use crate::report::{Outcome, panic_message};
use crate::snapshot::{TaskInfo, TaskKind};

#[derive(Default)]
pub(crate) struct Registry {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    next_key: u32,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// How listed tasks ended since a shutdown report began.
    ended: Option<Vec<(Name, Ended)>>,
}

/// A listed task's runner name; `None` goes by the `Tasks`' name.
pub(crate) type Name = Option<&'static str>;

struct Entry {
    /// Unique in its registry (it would take 2^32 spawns while one task is still waiting
    /// for its abort handle to repeat), so that a late `set_abort` cannot reach the slot's
    /// next tenant.
    key: u32,
    /// The runner's name; `None` goes by the `Tasks`' name.
    name: Option<&'static str>,
    kind: TaskKind,
    started_at: Instant,
    stats: Option<Arc<LoopStats>>,
    /// Set right after the spawn.
    abort: Option<AbortHandle>,
}

/// What a loop tells the registry as it goes.
#[derive(Default)]
pub(crate) struct LoopStats {
    iteration: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl LoopStats {
    pub(crate) fn set_iteration(&self, iteration: u64) {
        // Relaxed: a snapshot is a best-effort view; nothing is ordered by it.
        self.iteration.store(iteration, Ordering::Relaxed);
    }

    pub(crate) fn set_last_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }
}

/// What a shutdown report collected: how listed tasks ended meanwhile, and those still
/// running (with their abort handles, once spawned).
pub(crate) struct ReportEnd {
    pub(crate) ended: Vec<(Name, Ended)>,
    pub(crate) running: Vec<(Name, Option<AbortHandle>)>,
}

/// How a listed task ended, for a shutdown report.
pub(crate) enum Ended {
    Finished,
    Failed(String),
    Panicked(String),
}

impl Registry {
    /// Lists a task about to start; it stays listed until the returned guard is dropped.
    pub(crate) fn insert(
        self: &Arc<Self>,
        name: Option<&'static str>,
        kind: TaskKind,
        stats: Option<Arc<LoopStats>>,
    ) -> Listed {
        let started_at = Instant::now();
        let mut slots = lock(&self.slots);
        let key = slots.next_key;
        slots.next_key = slots.next_key.wrapping_add(1);
        let entry = Entry {
            key,
            name,
            kind,
            started_at,
            stats,
            abort: None,
        };
        let slot = match slots.free.pop() {
            Some(slot) => {
                slots.entries[slot] = Some(entry);
                slot
            }
            None => {
                slots.entries.push(Some(entry));
                slots.entries.len() - 1
            }
        };
        drop(slots);
        Listed {
            registry: Arc::clone(self),
            ticket: Ticket {
                slot: u32::try_from(slot)
                    .ok()
                    .filter(|&slot| slot != FINISHED)
                    .expect("fewer than 2^32 - 1 listed tasks"),
                key,
            },
        }
    }

    /// Gives a listed task its abort handle, once it is spawned (it may have ended already).
    pub(crate) fn set_abort(&self, ticket: Ticket, abort: AbortHandle) {
        let mut slots = lock(&self.slots);
        if let Some(entry) = &mut slots.entries[ticket.slot as usize] {
            if entry.key == ticket.key {
                entry.abort = Some(abort);
            }
        }
    }

    /// What is listed now, oldest first; `None` names become `tasks_name`.
    pub(crate) fn snapshot(&self, tasks_name: &str) -> Vec<TaskInfo> {
        let slots = lock(&self.slots);
        let mut tasks: Vec<TaskInfo> = slots
            .entries
            .iter()
            .flatten()
            .map(|entry| TaskInfo {
                name: entry.name.unwrap_or(tasks_name).to_owned(),
                kind: entry.kind,
                started_at: entry.started_at,
                iteration: entry
                    .stats
                    .as_ref()
                    .map(|stats| stats.iteration.load(Ordering::Relaxed)),
                last_error: entry.stats.as_ref().and_then(|stats| {
                    stats
                        .last_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                }),
            })
            .collect();
        drop(slots);
        tasks.sort_by_key(|task| task.started_at);
        tasks
    }

    /// How many tasks are listed now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.slots).entries.iter().flatten().count()
    }

    /// Starts recording how listed tasks end, for a shutdown report.
    pub(crate) fn start_report(&self) {
        lock(&self.slots).ended = Some(Vec::new());
    }

    /// Stops recording and returns what ended meanwhile, and the tasks still listed (their
    /// names and abort handles).
    pub(crate) fn finish_report(&self) -> ReportEnd {
        let mut slots = lock(&self.slots);
        let ended = slots.ended.take().unwrap_or_default();
        let running = slots
            .entries
            .iter()
            .flatten()
            .map(|entry| (entry.name, entry.abort.clone()))
            .collect();
        ReportEnd { ended, running }
    }
}

/// Where a listed task is, to reach its entry from outside its future. 32-bit halves keep
/// the guard, and so every listed task's future, small.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    slot: u32,
    key: u32,
}

/// Keeps one task listed in its [`Registry`] while alive.
pub(crate) struct Listed {
    registry: Arc<Registry>,
    ticket: Ticket,
}

impl Listed {
    pub(crate) fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// The task ended as `outcome`: records that if a shutdown report is being made, and
    /// unlists the task, under one lock. Dropping the guard unlists a task that ended
    /// otherwise (aborted, or dropped with its runtime).
    pub(crate) fn finish(&mut self, outcome: &Outcome) {
        let mut slots = lock(&self.registry.slots);
        let slot = self.ticket.slot as usize;
        let name = slots.entries[slot].take().and_then(|entry| entry.name);
        slots.free.push(slot);
        self.ticket.slot = FINISHED;
        if let Some(ended) = &mut slots.ended {
            ended.push((
                name,
                match outcome {
                    Outcome::Finished | Outcome::Stopped | Outcome::Canceled(_) => Ended::Finished,
                    Outcome::Failed(err) => Ended::Failed(err.to_string()),
                    Outcome::Panicked(payload) => {
                        Ended::Panicked(panic_message(&**payload).to_owned())
                    }
                },
            ));
        }
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        if self.ticket.slot == FINISHED {
            return;
        }
        let mut slots = lock(&self.registry.slots);
        slots.entries[self.ticket.slot as usize] = None;
        slots.free.push(self.ticket.slot as usize);
    }
}

/// The slot of a guard whose task [finished](Listed::finish): nothing left to unlist.
const FINISHED: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn guards_list_and_unlist_and_slots_are_reused() {
        let registry = Arc::new(Registry::default());
        let a = registry.insert(Some("a"), TaskKind::Run, None);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let b = registry.insert(None, TaskKind::Loop, Some(Arc::default()));
        assert_eq!(registry.len(), 2);
        drop(a);
        let names: Vec<_> = registry
            .snapshot("tasks")
            .into_iter()
            .map(|task| (task.name, task.kind, task.iteration))
            .collect();
        assert_eq!(names, [("tasks".to_owned(), TaskKind::Loop, Some(0))]);
        let c = registry.insert(Some("c"), TaskKind::Background, None);
        assert_eq!(lock(&registry.slots).entries.len(), 2);
        drop((b, c));
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn a_report_records_each_listed_end_once() {
        let registry = Arc::new(Registry::default());
        let mut before = registry.insert(Some("before"), TaskKind::Run, None);
        registry.start_report();
        let mut failed = registry.insert(Some("failed"), TaskKind::Run, None);
        failed.finish(&Outcome::Failed("boom".into()));
        assert_eq!(registry.len(), 1);
        drop(failed);
        assert_eq!(registry.len(), 1, "a finished guard unlists nothing more");
        let ReportEnd { ended, running } = registry.finish_report();
        assert_eq!(ended.len(), 1);
        assert!(matches!(&ended[0], (Some("failed"), Ended::Failed(e)) if e == "boom"));
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].0, Some("before"));
        before.finish(&Outcome::Finished);
        assert_eq!(registry.len(), 0);
    }
}
