//! The shared state of one set of tasks, behind every [`Tasks`](crate::task::Tasks) handle to it
//! and held by each of its runs.
//!
//! # Invariants
//!
//! 1. **A set's context is a child of its parent's** (a root set's is a root), and every
//!    task's context is joined to its set's: closing or canceling a set reaches its tasks
//!    and its child sets' tasks, including those started later (born closing or done).
//! 2. **A task counts in its set's tracker and in every ancestor's** from before `run*()`
//!    returns until its future is dropped: `running()` and `wait()` of a set cover its
//!    children exactly, with no moment where a task that starts another is counted by
//!    neither.
//! 3. **A set lives as long as its handles and its runs**: each run holds its set, so what
//!    it reads (the classes, the escalation, the listing) outlives the last `Tasks` handle.
//! 4. **A parent lists its children weakly**, from just after a child is built until it is
//!    dropped, and a child holds its parent: the tree can be walked from any set down, and
//!    a set with no handle and no run is freed.
//! 5. **Configuration lives here**, never in a process-wide map: classes and escalation are
//!    read on the failure path only, under a lock held for a clone.
//! 6. **A shutdown is recorded from its first close**: the first close of a set that no
//!    ancestor's close covers starts its shutdown record (a collector on its subtree,
//!    bounded), which a report on it or an ancestor takes, and which a dropped child hands
//!    to its parent: a report names what ended since its tree started to shut down.
//!
//! Lock order: a set's `children` lock and its listing's lock are never held together, and
//! a set's locks never while taking another set's (but for a dropped set, which holds no
//! lock of its own, taking its parent's `drained`); a set's `drained` lock may be held
//! while taking a collector's (never the other way).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use slab::Slab;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::error_class::{Classifier, ErrorClass};
use super::escalation::OnFailure;
use super::listing::{Collector, Ending, Listing, Running};
use super::raised::claim as claim_panic_location;
use super::snapshot::{Snapshot, TaskInfo};
use super::task_error::TaskError;
use crate::context::Why;
use crate::context::{Cause, Context, ContextError};
use crate::fields;
use crate::loom::{AtomicUsize, Mutex, interleave, lock};
use crate::outcome::{catch_sync, panic_message};

/// Whether any set of the process was ever asked for root spans (`Tasks::with_root_spans`):
/// never reset, read before walking a set's ancestors for their own flag.
static ROOT_SPANS_ASKED: AtomicBool = AtomicBool::new(false);

/// A task's tokens in its set's ancestors' trackers, held for its whole life. The parent's
/// inline: one allocation for a child set's task (a pool's), the common nesting.
pub(crate) struct Ancestors {
    _parent: TaskTrackerToken,
    _further: Box<[TaskTrackerToken]>,
}

pub(crate) struct Set {
    /// The set's own name: its runs' `task.name`.
    pub(crate) name: Arc<str>,
    /// The names from the root down, joined by `/` (`svc/jobs`): the root's is its name.
    pub(crate) path: Arc<str>,
    pub(crate) parent: Option<Arc<Set>>,
    /// The parent of every task's context: closed by `close`, canceled by `shutdown`.
    pub(crate) ctx: Context,
    /// Closed at creation and never reopened, so `wait()` returns whenever it is empty:
    /// Go's `WaitGroup` semantics.
    pub(crate) tracker: TaskTracker,
    pub(crate) listing: Listing,
    children: Mutex<Slab<std::sync::Weak<Set>>>,
    /// This set's slot in its parent's `children`, written once when it is listed there.
    slot: AtomicUsize,
    classes: Mutex<Option<Classifier>>,
    on_failure: AtomicU8,
    on_panic: AtomicU8,
    /// Whether each run of this set (and of its descendants) starts a trace of its own.
    root_spans: AtomicBool,
    /// What ended during the drains before a shutdown report, for that report.
    drained: Mutex<Drained>,
    /// A pool's set keeps its runs' failures here for `Pool::wait`; other sets do not (so
    /// `Some` also says this set is a pool's).
    pub(crate) failures: Option<Mutex<Vec<TaskError>>>,
    /// Metric keys (feature `metrics`; zero-sized without it).
    pub(crate) metrics: crate::metrics::TasksMetrics,
}

impl Set {
    /// A new set named `name`, the child of `parent` if there is one; one that keeps its
    /// runs' failures for a pool if `keeps_failures`.
    pub(crate) fn new(name: String, parent: Option<&Arc<Set>>, keeps_failures: bool) -> Arc<Set> {
        let path: Arc<str> = match parent {
            Some(parent) => format!("{}/{name}", parent.path).into(),
            None => name.as_str().into(),
        };
        // The handle is not kept: the set cancels through `Context::cancel_because`.
        let (ctx, _) = match parent {
            Some(parent) => parent.ctx.with_cancel(),
            None => Context::background().with_cancel(),
        };
        let tracker = TaskTracker::new();
        tracker.close();
        let set = Arc::new(Set {
            name: name.into(),
            path,
            parent: parent.cloned(),
            ctx,
            tracker,
            listing: Listing::default(),
            children: Mutex::default(),
            slot: AtomicUsize::new(usize::MAX),
            classes: Mutex::default(),
            on_failure: AtomicU8::new(OnFailure::Report as u8),
            on_panic: AtomicU8::new(OnFailure::Report as u8),
            root_spans: AtomicBool::new(false),
            drained: Mutex::default(),
            failures: keeps_failures.then(Mutex::default),
            metrics: Default::default(),
        });
        if let Some(parent) = parent {
            // Listed only once built, so that a walk of the tree never meets a child it
            // cannot upgrade; then the collectors, so that a report that walked the
            // children before this one was listed still covers it (listing invariant 4).
            let slot = lock(&parent.children).insert(Arc::downgrade(&set));
            // Relaxed: only ever read under the parent's `children` lock.
            set.slot.store(slot, Ordering::Relaxed);
            for collector in parent.listing.collectors() {
                set.listing.add_collector(&collector);
            }
        }
        set
    }

    /// This set and all its descendants, this set first, parents before children.
    pub(crate) fn subtree(self: &Arc<Set>) -> Vec<Arc<Set>> {
        let mut sets = vec![Arc::clone(self)];
        // A work list over `sets` itself, not recursion.
        let mut next = 0;
        while let Some(set) = sets.get(next).cloned() {
            next += 1;
            let children = lock(&set.children);
            sets.extend(children.iter().filter_map(|(_, child)| child.upgrade()));
        }
        sets
    }

    /// What this set and its descendants run now (see `Tasks::snapshot`).
    pub(crate) fn snapshot(self: &Arc<Set>) -> Snapshot {
        let mut tasks: Vec<TaskInfo> = self
            .subtree()
            .iter()
            .flat_map(|set| set.listing.snapshot(&set.path))
            .collect();
        tasks.sort_by_key(|task| task.started_at);
        // Read apart from the listings: a task ending in between may be missed.
        let unlisted = self.tracker.len().saturating_sub(tasks.len());
        Snapshot { tasks, unlisted }
    }

    /// How many unnamed (unlisted) runs each set of the subtree runs now: its own count (its
    /// tracker's, less its direct children's) less what it lists. A snapshot: the counts
    /// are read apart.
    pub(crate) fn unlisted_by_set(self: &Arc<Set>) -> Vec<(Arc<Set>, usize)> {
        self.subtree()
            .into_iter()
            .map(|set| {
                // Upgraded under the lock, counted and let go of after it: a child's last
                // handle may be gone meanwhile, and its drop takes this same lock.
                let upgraded: Vec<Arc<Set>> = lock(&set.children)
                    .iter()
                    .filter_map(|(_, child)| {
                        let child = child.upgrade();
                        // The child's last other handle may go now (see the loom models).
                        interleave();
                        child
                    })
                    .collect();
                let children: usize = upgraded.iter().map(|child| child.tracker.len()).sum();
                let own = set.tracker.len().saturating_sub(children);
                let unlisted = own.saturating_sub(set.listing.len());
                (set, unlisted)
            })
            .filter(|(_, unlisted)| *unlisted > 0)
            .collect()
    }

    /// The root of this set's tree.
    pub(crate) fn root(self: &Arc<Set>) -> &Arc<Set> {
        let mut set = self;
        while let Some(parent) = &set.parent {
            set = parent;
        }
        set
    }

    /// This set, then its parent, and so on up to the root.
    pub(crate) fn lineage(&self) -> impl Iterator<Item = &Set> {
        std::iter::successors(Some(self), |set| set.parent.as_deref())
    }

    /// Whether this set is `other` or one of its descendants.
    pub(crate) fn is_within(&self, other: &Set) -> bool {
        self.lineage().any(|set| std::ptr::eq(set, other))
    }

    /// One token of each ancestor's tracker, so that the task counts there too (invariant
    /// 2). `None`, with nothing allocated, for a root set's task: a thin pointer otherwise,
    /// so that every task's future stays small.
    #[inline]
    pub(crate) fn ancestor_tokens(&self) -> Option<Box<Ancestors>> {
        let parent = self.parent.as_deref()?;
        Some(Box::new(Ancestors {
            _parent: parent.tracker.token(),
            _further: parent
                .lineage()
                .skip(1)
                .map(|set| set.tracker.token())
                .collect(),
        }))
    }

    /// Starts (or stops) handing the ended tasks of this set and all its descendants to
    /// `collector`: added to each set before its children are visited.
    pub(crate) fn collect(self: &Arc<Set>, collector: &Arc<Collector>, on: bool) {
        let mut pending = vec![Arc::clone(self)];
        while let Some(set) = pending.pop() {
            if on {
                set.listing.add_collector(collector);
            } else {
                set.listing.remove_collector(collector);
            }
            let children = lock(&set.children);
            pending.extend(children.iter().filter_map(|(_, child)| child.upgrade()));
        }
    }

    /// Replaces this set's classifier.
    pub(crate) fn set_classes(&self, classes: Classifier) {
        // The one replaced is dropped after the lock: it is the user's closure, and its
        // `Drop` may do anything (even set this set's classes again).
        let replaced = lock(&self.classes).replace(classes);
        drop(replaced);
    }

    /// The class of `err` in this set: its own classifier's, or the nearest parent's, or
    /// [`ErrorClass::Error`]. A classifier that panics is reported, and the error is an
    /// error.
    pub(crate) fn classify(&self, err: &(dyn std::error::Error + 'static)) -> ErrorClass {
        let classifier = self.lineage().find_map(|set| lock(&set.classes).clone());
        let Some(classify) = classifier else {
            return ErrorClass::Error;
        };
        // Called outside the lock: a classifier may do anything, even start tasks.
        catch_sync(|| classify(err)).unwrap_or_else(|payload| {
            // Reported here (the hook kept it for this report, when a run is polled).
            let location = claim_panic_location(&*payload);
            tracing::event!(
                target: "async_tasks",
                tracing::Level::ERROR,
                { fields::TASKS } = &*self.path,
                { fields::PANIC } = panic_message(&*payload),
                { fields::LOCATION } = location,
                "the error classifier of tasks \"{}\" panicked: {}",
                self.path,
                panic_message(&*payload),
            );
            ErrorClass::Error
        })
    }

    /// Makes each run of this set and of its descendants the root of a trace of its own.
    pub(crate) fn set_root_spans(&self) {
        // Relaxed: read when a run starts; nothing else is ordered by it.
        self.root_spans.store(true, Ordering::Relaxed);
        ROOT_SPANS_ASKED.store(true, Ordering::Relaxed);
    }

    /// Whether a run of this set starts a trace of its own: this set or an ancestor said so.
    /// Until a set of the process asks, which most never do, one load: this is asked for
    /// every run and every loop iteration.
    #[inline]
    pub(crate) fn root_spans(&self) -> bool {
        // Relaxed: as in `set_root_spans`.
        ROOT_SPANS_ASKED.load(Ordering::Relaxed)
            && self
                .lineage()
                .any(|set| set.root_spans.load(Ordering::Relaxed))
    }

    /// What a failed run does beyond its report (`Tasks::on_failure`), as last set.
    pub(crate) fn on_failure(&self) -> OnFailure {
        // Relaxed: as in `set_on_failure`.
        OnFailure::from_u8(self.on_failure.load(Ordering::Relaxed))
    }

    pub(crate) fn set_on_failure(&self, action: OnFailure, panics: bool) {
        let slot = if panics {
            &self.on_panic
        } else {
            &self.on_failure
        };
        // Relaxed: read on the failure path; nothing else is ordered by it.
        slot.store(action as u8, Ordering::Relaxed);
    }

    /// A run failed (or panicked) as `failure`: kept for the pool's `wait` if this is a
    /// pool's set.
    pub(crate) fn keep_failure(&self, failure: &TaskError) {
        if let Some(failures) = &self.failures {
            lock(failures).push(failure.clone());
        }
    }

    /// Takes what ended since this set started to shut down, at a shutdown report's start:
    /// its shutdown record (which stops recording), the records of its dropped children,
    /// the last drain that ended, and the drains still under way, which keep nothing for a
    /// report after that (what ends from now on is the report's own). Also how many
    /// endings were counted and not named.
    pub(crate) fn take_drained(self: &Arc<Set>) -> (Vec<Ending>, u64) {
        let mut drained = lock(&self.drained);
        let mut ended = std::mem::take(&mut drained.last);
        let mut overflow = std::mem::take(&mut drained.orphans_overflow);
        ended.append(&mut drained.orphans);
        // Lock order: a set's `drained`, then a collector's.
        for drain in drained.live.drain(..) {
            ended.extend(drain.take());
        }
        let record = drained.record.take();
        drop(drained);
        if let Some(record) = record {
            // Retired first: a child being created now does not copy it back.
            record.retire();
            self.collect(&record, false);
            ended.extend(record.take());
            overflow += record.take_overflow();
        }
        (ended, overflow)
    }

    /// A copy of what this set's shutdown record holds of the tasks of the set at `path`
    /// (a descendant's report), left for this set's own report.
    pub(crate) fn copy_record_within(&self, path: &str) -> Vec<Ending> {
        let record = lock(&self.drained).record.clone();
        record.map_or_else(Vec::new, |record| record.copy_within(path))
    }

    /// This set's shutdown record, if it keeps one now.
    pub(crate) fn record(&self) -> Option<Arc<Collector>> {
        lock(&self.drained).record.clone()
    }

    /// Starts this set's shutdown record (see `Drained::record`), unless it has one.
    fn start_record(self: &Arc<Set>) {
        let record = Arc::new(Collector::default());
        {
            let mut drained = lock(&self.drained);
            if drained.record.is_some() {
                return;
            }
            drained.record = Some(Arc::clone(&record));
        }
        // Added to the subtree's listings after its lock is let go (lock order); a task
        // that ends in between is the close's to race, as for any collector.
        self.collect(&record, true);
    }

    /// Takes the failures kept since the last time (a pool's `wait`).
    pub(crate) fn take_failures(&self) -> Vec<TaskError> {
        self.failures
            .as_ref()
            .map(|failures| std::mem::take(&mut *lock(failures)))
            .unwrap_or_default()
    }

    /// Shuts down what this set's escalation for a failure (or a panic) names, with
    /// `failure` as the cause every task there sees. A pool's runs are its parent's runs: a
    /// pool's set that only reports escalates as its parent does (a loop, not a recursion:
    /// pools nest as deep as a program makes them).
    pub(crate) fn escalate(self: &Arc<Set>, failure: TaskError, panicked: bool) {
        let mut set = self;
        let target = loop {
            let slot = if panicked {
                &set.on_panic
            } else {
                &set.on_failure
            };
            match OnFailure::from_u8(slot.load(Ordering::Relaxed)) {
                OnFailure::Report => match &set.parent {
                    // A pool's set (it keeps failures).
                    Some(parent) if set.failures.is_some() => set = parent,
                    _ => return,
                },
                OnFailure::ShutdownSet => break set,
                OnFailure::ShutdownParent => break set.parent.as_ref().unwrap_or(set),
                OnFailure::ShutdownRoot => break set.root(),
            }
        };
        target.shut_down(Some(Arc::new(failure)));
    }

    /// Closes this set and its descendants: loops stop after the iteration in flight,
    /// pools admit nothing, contexts say `is_closing`.
    ///
    /// The first close of a set that no ancestor's close covers starts its shutdown
    /// record, so that a report later names what ended since: a shutdown in two steps (a
    /// child drained first, then the rest) is reported whole.
    pub(crate) fn close(self: &Arc<Set>) {
        if !self.ctx.is_closing() {
            self.start_record();
        }
        self.ctx.close();
    }

    /// Closes and cancels this set and its descendants, with `cause` (the first cause
    /// wins).
    pub(crate) fn shut_down(self: &Arc<Set>, cause: Option<Cause>) {
        self.close();
        self.ctx.cancel_because(Why {
            reason: ContextError::Canceled,
            cause,
        });
    }
}

impl Set {
    /// Leaves the parent's list of children and hands the parent back, so that `Drop` can
    /// let go of it without recursing.
    fn leave_parent(&mut self) -> Option<Arc<Set>> {
        let parent = self.parent.take()?;
        // Relaxed: written before this set was shared (invariant 4).
        let slot = self.slot.load(Ordering::Relaxed);
        lock(&parent.children).try_remove(slot);
        Some(parent)
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        // A shutdown record no report took yet goes to the parent, for its report: what
        // ended in this set since it closed is part of the tree's shutdown. (Its
        // collector is in no other listing: the children, which hold this set, are gone.)
        if let Some(parent) = &self.parent {
            let drained = self
                .drained
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut ended = std::mem::take(&mut drained.orphans);
            let mut overflow = drained.orphans_overflow;
            if let Some(record) = drained.record.take() {
                ended.extend(record.take());
                overflow += record.take_overflow();
            }
            if !ended.is_empty() || overflow > 0 {
                let mut theirs = lock(&parent.drained);
                // Bounded as a record is: past it, counted.
                let room = Collector::KEEPS.saturating_sub(theirs.orphans.len());
                overflow += ended.len().saturating_sub(room) as u64;
                ended.truncate(room);
                theirs.orphans.extend(ended);
                theirs.orphans_overflow += overflow;
            }
        }
        // Letting go of the parent may drop it, and its parent, and so on: a chain of
        // children as deep as the program made it. Each set freed here gives up its parent
        // first, so that its own `Drop` has nothing left to do (no recursion, as for the
        // context tree's nodes).
        let mut parent = self.leave_parent();
        while let Some(set) = parent.take() {
            if let Some(mut freed) = Arc::into_inner(set) {
                parent = freed.leave_parent();
            }
        }
    }
}

#[cfg(all(test, async_tasks_loom))]
mod loom_models;

/// What ended since this set started to shut down, for the shutdown report after it.
#[derive(Default)]
struct Drained {
    /// The last drain that ended: what ended meanwhile (the next drain replaces it).
    last: Vec<Ending>,
    /// The drains under way, whose collectors a report starting now takes over.
    live: Vec<Arc<Collector>>,
    /// The set's shutdown record: what ended in its subtree since its first close (unless
    /// an ancestor's close came first, whose record covers it), until a report takes it.
    record: Option<Arc<Collector>>,
    /// The records of child sets dropped before a report took them, and how many endings
    /// they counted without naming.
    orphans: Vec<Ending>,
    orphans_overflow: u64,
}

/// Hands the ended tasks of a set and its descendants to a collector while alive: a
/// report's (or a drain's) own state, undone on drop however its future ends (a dropped
/// report leaves nothing behind). A drain's collecting keeps what it collected in the set,
/// for the report that follows it.
pub(crate) struct Collecting<'a> {
    set: &'a Arc<Set>,
    collector: Arc<Collector>,
    /// A drain's: what was collected goes to the set's `drained` when this drops.
    keep: bool,
}

impl<'a> Collecting<'a> {
    pub(crate) fn start(set: &'a Arc<Set>, keep: bool) -> Self {
        let collector = Arc::new(Collector::default());
        set.collect(&collector, true);
        if keep {
            lock(&set.drained).live.push(Arc::clone(&collector));
        }
        Collecting {
            set,
            collector,
            keep,
        }
    }

    /// What was collected so far, after `before` (what ended during the drains before the
    /// report, taken when it started): a drain still under way then recorded what ended
    /// after that too, and each task is in the list once.
    pub(crate) fn take_after(&self, before: Vec<Ending>) -> Vec<Ending> {
        let own = self.collector.take();
        let mine: HashSet<_> = own.iter().map(Ending::task).collect();
        let mut ended: Vec<Ending> = before
            .into_iter()
            .filter(|ending| !mine.contains(&ending.task()))
            .collect();
        ended.extend(own);
        ended
    }

    /// Stops collecting and returns the listed tasks still running, with their set:
    /// each task of the subtree is then either in the collector or in this list.
    pub(crate) fn stop(&self) -> Vec<(Arc<Set>, Running)> {
        // Retired first: a child being created now does not copy it back.
        self.collector.retire();
        let mut running = Vec::new();
        for set in self.set.subtree() {
            let here = set.listing.stop_collecting(&self.collector);
            running.extend(here.into_iter().map(|task| (Arc::clone(&set), task)));
        }
        running
    }
}

impl Drop for Collecting<'_> {
    fn drop(&mut self) {
        // Retired first: a child being created now does not copy it back.
        self.collector.retire();
        self.set.collect(&self.collector, false);
        if self.keep {
            let mut drained = lock(&self.set.drained);
            // Unless a report took it over (and named what it had) when it started.
            if let Some(at) = drained
                .live
                .iter()
                .position(|drain| Arc::ptr_eq(drain, &self.collector))
            {
                drained.live.swap_remove(at);
                // Lock order: a set's `drained`, then a collector's.
                let previous = std::mem::replace(&mut drained.last, self.collector.take());
                drop(drained);
                drop(previous);
            }
        }
    }
}
