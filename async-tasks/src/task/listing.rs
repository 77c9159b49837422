//! The listed tasks of one set: what [`Tasks::snapshot`](crate::task::Tasks::snapshot) shows
//! and [`Tasks::shutdown_report`](crate::task::Tasks::shutdown_report) names and aborts.
//!
//! Listed are every loop, background task, spawned task and pool run, and every one-shot
//! run whose runner has a [`name`](crate::runner::Runner::name). Unnamed one-shot runs of
//! [`Tasks::run`](crate::task::Tasks::run) are only counted (by the set's tracker): they are the
//! hot path, and listing one costs three short lock round trips, a clock read and an abort
//! handle.
//!
//! # Invariants
//!
//! 1. A task is listed from just before it is spawned until its future is dropped (it
//!    ended, was aborted, or went with its runtime), by the `Member` that the future owns
//!    ([`Listing::finish`] unlists once per [`Ticket`]): a snapshot or a report never
//!    misses a task that is running, and never names one that is gone. A task that ends
//!    by itself is unlisted as it ends, unless a report named it aborted and waits for it
//!    to go ([`Listing::gone`]): then it is unlisted last, when its future drops, after
//!    everything it held (its `Member` is the last thing its future drops).
//! 2. An entry's slot is reused only after its task has left, and every entry carries a key
//!    unique in its listing, so a late [`Listing::set_abort`] can never reach the next
//!    tenant of the slot.
//! 3. While a report is collected over this set (its own or a parent set's), every listed
//!    task that ends here adds how it ended to that report's [`Collector`], exactly once, in
//!    the same critical section that unlists it: a task is either still listed or in the
//!    collector, never neither and never both.
//! 4. A collector is added to a set before the set's children are visited, and a new child
//!    set copies its parent's collectors after it is listed as a child: a set created
//!    during a report is covered by it (see `Set::new`). A collector is retired before it
//!    is taken out of the sets, and a retired collector is never added: a child created
//!    while a report or drain goes away does not copy it back, to record for nobody.
//! 5. A task a report names aborted is aborted: one still being spawned when the report
//!    ends (listed, its abort handle not yet there) is marked, and aborted by
//!    [`Listing::set_abort`] the moment its handle comes.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slab::Slab;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::snapshot::{TaskInfo, TaskKind};
use crate::lease::Term;
use crate::loom::{AtomicBool, Mutex, lock};
use crate::outcome::Ended;

/// A task's name: a runner's `&'static str`, or a name made at run time (a spawned task's
/// `format!("job-{id}")`, a set's own name), shared rather than copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TaskName {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            TaskName::Static(name) => name,
            TaskName::Shared(name) => name,
        }
    }
}

#[derive(Default)]
pub(crate) struct Listing {
    inner: Mutex<Inner>,
    /// Notified when a task leaves while someone waits for tasks to leave.
    left: Notify,
}

#[derive(Default)]
struct Inner {
    /// The key of the next entry (invariant 2).
    next_key: u32,
    entries: Slab<Entry>,
    /// The reports being collected over this set (invariant 3).
    collectors: Vec<Arc<Collector>>,
    /// How many wait for tasks to leave ([`Listing::gone`]): `left` is notified only then.
    watching: usize,
}

struct Entry {
    key: u32,
    name: TaskName,
    kind: TaskKind,
    started_at: Instant,
    stats: Option<Arc<LoopStats>>,
    /// Set right after the spawn.
    abort: Option<AbortHandle>,
    /// A report ended while the task was being spawned, before its abort handle came: it
    /// named the task aborted, and the handle aborts it as soon as it comes (invariant 5).
    abort_asked: bool,
    /// A report named the task aborted, and waits for it to go: it stays listed until its
    /// future is dropped, even if it ends by itself meanwhile (invariant 1).
    reported: bool,
    /// How the task ended was handed to the collectors: only once.
    recorded: bool,
}

/// What a task tells the listing as it goes: a loop its iteration and last error, a
/// singleton its term, a queued pool job that it waits for a slot. (The iteration is shown
/// only for the kinds that loop.)
#[derive(Default)]
pub(crate) struct LoopStats {
    /// Accepted by a pool, waiting for a slot.
    queued: AtomicBool,
    iteration: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// A singleton's: the term under which this replica leads it now.
    term: Mutex<Option<Term>>,
}

impl LoopStats {
    /// A queued pool job's: queued until [`started`](LoopStats::started).
    pub(crate) fn queued() -> LoopStats {
        LoopStats {
            queued: AtomicBool::new(true),
            ..LoopStats::default()
        }
    }

    /// The queued job got its slot.
    pub(crate) fn started(&self) {
        // Relaxed: a snapshot is a best-effort view; nothing is ordered by it.
        self.queued.store(false, Ordering::Relaxed);
    }

    pub(crate) fn set_iteration(&self, iteration: u64) {
        // Relaxed: a snapshot is a best-effort view; nothing is ordered by it.
        self.iteration.store(iteration, Ordering::Relaxed);
    }

    pub(crate) fn set_last_error(&self, error: String) {
        *lock(&self.last_error) = Some(error);
    }

    /// A singleton leads under `term` from now (`None`: it no longer leads); returns the
    /// term it led under until now, if any (dropped by the caller, after the lock).
    pub(crate) fn set_term(&self, term: Option<Term>) -> Option<Term> {
        std::mem::replace(&mut *lock(&self.term), term)
    }
}

/// Where a listed task is, to reach its entry from outside its future. 32-bit halves, and
/// a slot that is never zero (so that `Option<Ticket>` is 8 bytes), keep every task's
/// future small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The entry's slot, plus one.
    slot: std::num::NonZeroU32,
    key: u32,
}

impl Ticket {
    fn new(slot: usize, key: u32) -> Ticket {
        let slot = u32::try_from(slot + 1)
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .expect("fewer than 2^32 - 1 tasks listed in one set");
        Ticket { slot, key }
    }

    fn slot(self) -> usize {
        self.slot.get() as usize - 1
    }
}

/// How the listed tasks of a set (and its children) ended while a shutdown report was
/// being made: shared by the report and every listing it covers.
#[derive(Default)]
pub(crate) struct Collector {
    ended: Mutex<Vec<Ending>>,
    /// How many more tasks ended than [`Collector::KEEPS`]: counted, not named.
    overflow: AtomicU64,
    /// Set once its report (or drain) stops collecting, before it is taken out of the
    /// listings: no listing adds it again (invariant 4).
    retired: AtomicBool,
}

/// One listed task that ended during a report.
#[derive(Clone)]
pub(crate) struct Ending {
    /// The path of the task's set (the set's own `Arc`: a set's endings share it).
    pub(crate) set: Arc<str>,
    /// The task's key in its set's listing: with `set`, which task this was.
    key: u32,
    pub(crate) name: TaskName,
    pub(crate) ended: Ended,
}

impl Ending {
    /// Which task this is the ending of: the same for its records in two collectors (a
    /// drain's and a report's), and for no other task.
    pub(crate) fn task(&self) -> (*const u8, u32) {
        (Arc::as_ptr(&self.set).cast::<u8>(), self.key)
    }
}

impl Collector {
    /// How many endings a collector names at most: a set's shutdown record lives from its
    /// first close to the report that takes it, and a closed set may still run one-shot
    /// work, so it is bounded; the rest are counted ([`Collector::overflow`]).
    pub(crate) const KEEPS: usize = 16_384;

    /// Everything recorded so far, in the order it happened.
    pub(crate) fn take(&self) -> Vec<Ending> {
        std::mem::take(&mut *lock(&self.ended))
    }

    /// A copy of what was recorded of the tasks of the set at `path` and its descendants,
    /// left in place (an ancestor's record, for a child set's report).
    pub(crate) fn copy_within(&self, path: &str) -> Vec<Ending> {
        lock(&self.ended)
            .iter()
            .filter(|ending| {
                ending
                    .set
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .cloned()
            .collect()
    }

    /// How many tasks ended past [`Collector::KEEPS`], and were only counted (taken).
    pub(crate) fn take_overflow(&self) -> u64 {
        // Relaxed: a count, read once the collector is retired.
        self.overflow.swap(0, Ordering::Relaxed)
    }

    /// Marks the collector as no longer wanted, before it is taken out of the listings.
    pub(crate) fn retire(&self) {
        // Relaxed: read under a listing's lock that the retiring walk takes after this
        // store, or not needed (see `add_collector`).
        self.retired.store(true, Ordering::Relaxed);
    }
}

/// A listed task still running when a report ends.
pub(crate) struct Running {
    pub(crate) ticket: Ticket,
    pub(crate) name: TaskName,
    pub(crate) abort: Option<AbortHandle>,
}

impl Listing {
    /// Lists a task about to start (invariant 1).
    pub(crate) fn insert(
        &self,
        name: TaskName,
        kind: TaskKind,
        stats: Option<Arc<LoopStats>>,
    ) -> Ticket {
        let started_at = Instant::now();
        let mut inner = lock(&self.inner);
        let key = inner.next_key;
        inner.next_key = key.wrapping_add(1);
        let slot = inner.entries.insert(Entry {
            key,
            name,
            kind,
            started_at,
            stats,
            abort: None,
            abort_asked: false,
            reported: false,
            recorded: false,
        });
        drop(inner);
        Ticket::new(slot, key)
    }

    /// Gives a listed task its abort handle, once it is spawned (it may have ended already:
    /// then its slot is empty, or another task's, and the key says so).
    pub(crate) fn set_abort(&self, ticket: Ticket, abort: AbortHandle) {
        let mut inner = lock(&self.inner);
        if let Some(entry) = inner.entries.get_mut(ticket.slot())
            && entry.key == ticket.key
        {
            if entry.abort_asked {
                abort.abort();
            }
            entry.abort = Some(abort);
        }
    }

    /// The task of `ticket` ended as `ended`: hands that and the set's `path` to every
    /// collector (once, invariant 3), and unlists the task — unless a report named it
    /// aborted and this is not the `last` call, which its `Member` makes when it drops
    /// (the report waits for the task to go, invariant 1). Returns the name it was listed
    /// by, and whether it was unlisted.
    pub(crate) fn finish(
        &self,
        ticket: Ticket,
        path: &Arc<str>,
        ended: impl FnOnce() -> Ended,
        last: bool,
    ) -> Option<(TaskName, bool)> {
        // Made before the lock: it may call the user's code (an error's `Display`), which
        // may reach this listing (a snapshot).
        let ended = ended();
        let mut inner = lock(&self.inner);
        let Inner {
            entries,
            collectors,
            watching,
            ..
        } = &mut *inner;
        let entry = entries
            .get_mut(ticket.slot())
            .filter(|entry| entry.key == ticket.key)?;
        if !entry.recorded {
            entry.recorded = true;
            // Lock order: a listing, then its collectors' (never the other way).
            for collector in collectors.iter() {
                let mut kept = lock(&collector.ended);
                if kept.len() < Collector::KEEPS {
                    kept.push(Ending {
                        set: Arc::clone(path),
                        key: entry.key,
                        name: entry.name.clone(),
                        ended: ended.clone(),
                    });
                } else {
                    // Relaxed: a count, read once the collector is retired.
                    collector.overflow.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !last && entry.reported {
            return Some((entry.name.clone(), false));
        }
        let watched = *watching > 0;
        let entry = entries.remove(ticket.slot());
        drop(inner);
        if watched {
            self.left.notify_waiters();
        }
        Some((entry.name, true))
    }

    /// The name the task of `ticket` is listed by, if it still is.
    pub(crate) fn name(&self, ticket: Ticket) -> Option<TaskName> {
        let inner = lock(&self.inner);
        let entry = inner.entries.get(ticket.slot())?;
        (entry.key == ticket.key).then(|| entry.name.clone())
    }

    /// Whether the task of `ticket` is still listed.
    fn contains(inner: &Inner, ticket: Ticket) -> bool {
        inner
            .entries
            .get(ticket.slot())
            .is_some_and(|entry| entry.key == ticket.key)
    }

    /// Resolves once none of the tasks of `tickets` is listed any more (the aborted tasks of
    /// a report are gone, not only asked to go): a task is unlisted, when its future drops,
    /// after everything else the future held (invariant 1).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes, and stops watching when dropped.
    pub(crate) async fn gone(&self, tickets: &[Ticket]) {
        /// Counts this waiter in `watching` while alive.
        struct Watch<'a>(&'a Listing);
        impl Drop for Watch<'_> {
            fn drop(&mut self) {
                lock(&self.0.inner).watching -= 1;
            }
        }
        lock(&self.inner).watching += 1;
        let _watch = Watch(self);
        loop {
            // Created before the check, so that a task leaving in between is not missed.
            let notified = std::pin::pin!(self.left.notified());
            {
                let inner = lock(&self.inner);
                if !tickets.iter().any(|&ticket| Self::contains(&inner, ticket)) {
                    return;
                }
            }
            notified.await;
        }
    }

    /// What is listed now; the set's `path` goes into each.
    pub(crate) fn snapshot(&self, path: &str) -> Vec<TaskInfo> {
        let inner = lock(&self.inner);
        inner
            .entries
            .iter()
            .map(|(_, entry)| TaskInfo {
                name: entry.name.to_string(),
                tasks: path.to_owned(),
                kind: entry.kind,
                started_at: entry.started_at,
                iteration: entry
                    .stats
                    .as_ref()
                    .filter(|_| matches!(entry.kind, TaskKind::Loop | TaskKind::Singleton))
                    .map(|stats| stats.iteration.load(Ordering::Relaxed)),
                queued: entry
                    .stats
                    .as_ref()
                    .is_some_and(|stats| stats.queued.load(Ordering::Relaxed)),
                last_error: entry
                    .stats
                    .as_ref()
                    .and_then(|stats| lock(&stats.last_error).clone()),
                term: entry
                    .stats
                    .as_ref()
                    .and_then(|stats| lock(&stats.term).clone()),
            })
            .collect()
    }

    /// How many tasks are listed now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// Starts handing ended tasks to `collector` (once, however often it is added), unless
    /// it is retired already.
    ///
    /// A new child set copies its parent's collectors one by one, racing their removal
    /// (invariant 4): the check is under this listing's lock, which the removal takes here
    /// after retiring the collector, so a retired collector is either seen retired or
    /// removed after it was added. (A child listed after the removal walked the parent's
    /// children does not copy it at all: the walk took it out of the parent's listing
    /// first.)
    pub(crate) fn add_collector(&self, collector: &Arc<Collector>) {
        let mut inner = lock(&self.inner);
        // Relaxed: ordered by this lock (see above).
        if collector.retired.load(Ordering::Relaxed) {
            return;
        }
        if !inner.collectors.iter().any(|c| Arc::ptr_eq(c, collector)) {
            inner.collectors.push(Arc::clone(collector));
        }
    }

    /// Stops handing ended tasks to `collector`.
    pub(crate) fn remove_collector(&self, collector: &Arc<Collector>) {
        lock(&self.inner)
            .collectors
            .retain(|c| !Arc::ptr_eq(c, collector));
    }

    /// Stops handing ended tasks to `collector` and returns the listed tasks still running,
    /// in one critical section: each task is either in the collector or in the list
    /// returned, never both and never neither (invariant 3).
    pub(crate) fn stop_collecting(&self, collector: &Arc<Collector>) -> Vec<Running> {
        let mut inner = lock(&self.inner);
        inner.collectors.retain(|c| !Arc::ptr_eq(c, collector));
        inner
            .entries
            .iter_mut()
            // Ended already, only not gone yet (another report waits for it): in the
            // collectors, if this one was there then.
            .filter(|(_, entry)| !entry.recorded)
            .map(|(slot, entry)| {
                // Being spawned: aborted as soon as its handle comes (invariant 5).
                entry.abort_asked |= entry.abort.is_none();
                // Waited for until it goes, whether it is aborted or ends by itself now.
                entry.reported = true;
                (slot, &*entry)
            })
            .map(|(slot, entry)| Running {
                ticket: Ticket::new(slot, entry.key),
                name: entry.name.clone(),
                abort: entry.abort.clone(),
            })
            .collect()
    }

    /// The collectors of this listing, for a child set to copy (invariant 4).
    pub(crate) fn collectors(&self) -> Vec<Arc<Collector>> {
        lock(&self.inner).collectors.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[tokio::test(start_paused = true)]
    async fn tickets_list_and_unlist_and_slots_are_reused() {
        let listing = Listing::default();
        let svc = path("svc");
        let a = listing.insert(TaskName::Static("a"), TaskKind::Run, None);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let b = listing.insert(
            TaskName::Static("b"),
            TaskKind::Loop,
            Some(Arc::new(LoopStats::default())),
        );
        assert_eq!(listing.len(), 2);
        listing.finish(a, &svc, || Ended::Finished, false);
        let listed: Vec<_> = listing
            .snapshot(&svc)
            .into_iter()
            .map(|task| (task.name, task.tasks, task.kind, task.iteration))
            .collect();
        assert_eq!(
            listed,
            [("b".into(), "svc".into(), TaskKind::Loop, Some(0))]
        );
        let c = listing.insert(TaskName::Static("c"), TaskKind::Background, None);
        assert_eq!(c.slot, a.slot, "the freed slot is reused");
        // A late abort handle for the slot's former tenant does not reach the new one.
        assert_ne!(c.key, a.key);
        listing.finish(b, &svc, || Ended::Finished, false);
        listing.finish(c, &svc, || Ended::Finished, false);
        assert_eq!(listing.len(), 0);
    }

    #[test]
    fn a_collector_gets_each_end_once_and_only_while_it_is_added() {
        let listing = Listing::default();
        let svc = path("svc");
        let before = listing.insert(TaskName::Static("before"), TaskKind::Run, None);
        let collector = Arc::new(Collector::default());
        listing.add_collector(&collector);
        listing.add_collector(&collector);
        let failed = listing.insert(TaskName::Static("failed"), TaskKind::Run, None);
        listing.finish(failed, &svc, || Ended::Failed("boom".into()), false);
        let ended = collector.take();
        assert_eq!(ended.len(), 1);
        assert_eq!(
            (&*ended[0].set, &*ended[0].name, &ended[0].ended),
            ("svc", "failed", &Ended::Failed("boom".into()))
        );
        let running: Vec<_> = listing
            .stop_collecting(&collector)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(running, [TaskName::Static("before")]);
        listing.finish(before, &svc, || Ended::Finished, false);
        assert!(
            collector.take().is_empty(),
            "a removed collector gets nothing"
        );
    }
}
