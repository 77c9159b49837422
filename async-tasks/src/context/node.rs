//! The private state behind a [`Context`](super::Context): one node of the cancellation tree.
//!
//! Invariants:
//! - `state` moves from `LIVE` to `CANCELED` or `DEADLINE` at most once and never changes
//!   again: the first reason wins (`err()` is sticky).
//! - A node is done whenever one of its parents is. Cancellation is pushed down eagerly by
//!   [`Node::cancel`], so reading a node's own `state` is enough: no walk up the parents.
//! - `deadline` is the earliest of the node's own deadline and all its parents' deadlines, so
//!   a node whose `deadline` has passed is done even if nobody has cancelled it yet; that case
//!   is noticed lazily by whoever reads the state ([`Node::err`]) and then stored.
//! - A node is listed in the `children` of each of its (at most two) parents from its
//!   registration until it is dropped, unless that parent is done: a done parent's list is
//!   `closed` and empty, and a child registered after that is born done.
//! - Nothing waits on a node until [`Node::done`] is first polled: the only waiter list is
//!   the `Notify`, which costs nothing while empty.
//!
//! - `state` is only written under the node's `children` lock (by [`Node::cancel`]), after
//!   `cause`: whoever sees the node done sees its cause too.
//!
//! Lock order: a node's `children` lock is never held while taking another node's lock,
//! so there is no lock order to respect.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::task::Poll;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Cause, ContextError};
use crate::loom::{AtomicU8, Mutex, lock};

const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE: u8 = 2;

/// Marks a parent link whose child was never listed (the parent was already done).
const UNLISTED: usize = usize::MAX;

fn encode(err: ContextError) -> u8 {
    match err {
        ContextError::Canceled => CANCELED,
        ContextError::DeadlineExceeded => DEADLINE,
    }
}

fn decode(state: u8) -> Option<ContextError> {
    match state {
        CANCELED => Some(ContextError::Canceled),
        DEADLINE => Some(ContextError::DeadlineExceeded),
        _ => None,
    }
}

/// Why a context is done: the reason, and the cause given with a cancel, if any.
#[derive(Clone)]
pub(crate) struct Why {
    pub(crate) reason: ContextError,
    pub(crate) cause: Option<Cause>,
}

impl Why {
    pub(crate) const CANCELED: Why = Why {
        reason: ContextError::Canceled,
        cause: None,
    };
    pub(crate) const DEADLINE: Why = Why {
        reason: ContextError::DeadlineExceeded,
        cause: None,
    };
}

pub(crate) struct Node {
    state: AtomicU8,
    /// Set once, by the cancel that made the node done, before `state`.
    cause: OnceLock<Cause>,
    deadline: Option<Instant>,
    notify: Notify,
    children: Mutex<Children>,
    parents: [Option<Link>; 2],
}

/// A child's link to one parent: the parent, and the child's slot in its `children`.
struct Link {
    parent: Arc<Node>,
    /// Written once under the parent's `children` lock, read under it again on drop.
    slot: std::sync::atomic::AtomicUsize,
}

/// The live children of a node, in a slab so that a child leaves in O(1) without moving
/// its siblings' slots.
#[derive(Default)]
struct Children {
    closed: bool,
    slots: Vec<Option<Weak<Node>>>,
    free: Vec<usize>,
}

impl Children {
    fn insert(&mut self, child: Weak<Node>) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(child);
                slot
            }
            None => {
                self.slots.push(Some(child));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if self.closed || slot == UNLISTED {
            return;
        }
        self.slots[slot] = None;
        self.free.push(slot);
    }

    /// Closes the list and hands back everything that was in it.
    fn close(&mut self) -> Vec<Option<Weak<Node>>> {
        self.closed = true;
        self.free = Vec::new();
        std::mem::take(&mut self.slots)
    }
}

impl Node {
    /// A node that is a child of every node in `parents` (at most two), with `deadline` of
    /// its own on top of theirs.
    pub(crate) fn new(parents: [Option<&Arc<Node>>; 2], deadline: Option<Instant>) -> Arc<Node> {
        let deadline = parents
            .iter()
            .flatten()
            .filter_map(|p| p.deadline)
            .chain(deadline)
            .min();
        let node = Arc::new(Node {
            state: AtomicU8::new(LIVE),
            cause: OnceLock::new(),
            deadline,
            notify: Notify::new(),
            children: Mutex::new(Children::default()),
            parents: parents.map(|p| {
                p.map(|parent| Link {
                    parent: Arc::clone(parent),
                    slot: std::sync::atomic::AtomicUsize::new(UNLISTED),
                })
            }),
        });
        for link in node.parents.iter().flatten() {
            let mut children = lock(&link.parent.children);
            if children.closed {
                drop(children);
                // The parent finished before we could listen: inherit its reason and cause as
                // they are (its first reason wins, even if the deadline we share with it has
                // passed since), as Go's `propagateCancel` does. A newborn has no children,
                // so there is nothing to pass on.
                let parent = &link.parent;
                let inherited = node.cancel_one(
                    Why {
                        reason: parent.err().unwrap_or(ContextError::Canceled),
                        cause: parent.cause.get().cloned(),
                    },
                    None,
                );
                debug_assert!(inherited.is_empty());
            } else {
                let slot = children.insert(Arc::downgrade(&node));
                // Relaxed: the slot is only ever read under this same lock.
                link.slot.store(slot, Ordering::Relaxed);
            }
        }
        node
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Why this node is done, or `None` while it is live.
    #[inline]
    pub(crate) fn err(&self) -> Option<ContextError> {
        // Acquire: pairs with the AcqRel exchange in `cancel`, so whoever sees a node done
        // also sees everything its canceller did before cancelling.
        if let Some(err) = decode(self.state.load(Ordering::Acquire)) {
            return Some(err);
        }
        let deadline = self.deadline?;
        if Instant::now() < deadline {
            return None;
        }
        self.cancel(Why::DEADLINE);
        decode(self.state.load(Ordering::Acquire))
    }

    /// Marks this node and all its descendants done, each with `why` unless its own
    /// deadline had passed already (then that came first, with no cause). A node that is
    /// done already keeps its reason and cause.
    pub(crate) fn cancel(&self, why: Why) {
        let now = Some(Instant::now());
        let mut pending = self.cancel_one(why, now);
        // Iterative, so that a deep chain of contexts cannot overflow the stack.
        while let Some((child, why)) = pending.pop() {
            pending.extend(child.cancel_one(why, now));
        }
    }

    /// Cancels this node alone and returns its children with the `Why` they inherit. With
    /// `now`, a deadline of the node's own that passed by then wins over `why`.
    fn cancel_one(&self, why: Why, now: Option<Instant>) -> Vec<(Arc<Node>, Why)> {
        let mut children = lock(&self.children);
        // Only cancellers write the state, and they hold this lock: Relaxed is enough.
        if self.state.load(Ordering::Relaxed) != LIVE {
            return Vec::new();
        }
        let why = match (self.deadline, now) {
            (Some(deadline), Some(now)) if deadline <= now => Why::DEADLINE,
            _ => why,
        };
        if let Some(cause) = &why.cause {
            // Cannot be set already: only the cancel that makes the node done sets it.
            let _ = self.cause.set(Arc::clone(cause));
        }
        // Release: pairs with the Acquire in `err`, so that whoever sees the node done also
        // sees its cause and everything its canceller did before.
        self.state.store(encode(why.reason), Ordering::Release);
        let listed = children.close();
        drop(children);
        self.notify.notify_waiters();
        listed
            .into_iter()
            .flatten()
            .filter_map(|child| child.upgrade())
            .map(|child| (child, why.clone()))
            .collect()
    }

    /// The cause given with the cancel that made this node done, if any.
    pub(crate) fn cause(&self) -> Option<Cause> {
        self.cause.get().cloned()
    }

    /// Resolves once the node is done. Registers a waiter only when first polled.
    pub(crate) async fn done(&self) {
        // Created before the state check: `notify_waiters` reaches a `Notified` from the
        // moment it exists, so a cancel between the check and the await is not missed.
        let notified = pin!(self.notify.notified());
        if self.err().is_some() {
            return;
        }
        let Some(deadline) = self.deadline else {
            return notified.await;
        };
        // Boxed: a timer is large, and a future parked in `done()` (the common case, with
        // no deadline) should not carry its size.
        let mut timer = Box::pin(tokio::time::sleep_until(deadline));
        let mut notified = notified;
        std::future::poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            if timer.as_mut().poll(cx).is_ready() {
                self.cancel(Why::DEADLINE);
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }

    /// Resolves once the node is cancelled, ignoring its deadline (for callers that run
    /// their own timer, like `sleep_until`).
    pub(crate) async fn cancelled(&self) {
        let notified = pin!(self.notify.notified());
        if decode(self.state.load(Ordering::Acquire)).is_some() {
            return;
        }
        notified.await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for link in self.parents.iter().flatten() {
            // A done parent has closed its list, or is about to: its canceller will find
            // this child's `Weak` dead and skip it. No need to take the lock (this is what
            // thousands of tasks ending together after a shutdown would contend on).
            if link.parent.state.load(Ordering::Acquire) != LIVE {
                continue;
            }
            let mut children = lock(&link.parent.children);
            children.remove(link.slot.load(Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(node: &Arc<Node>) -> usize {
        lock(&node.children).slots.iter().flatten().count()
    }

    #[test]
    fn a_parked_done_future_stays_small() {
        // Every task parked in `ctx.done()` holds this future: keep it about the size of
        // tokio's own `Notified` (the anchor of the memory benchmark).
        let node = Node::new([None, None], None);
        let notified = std::mem::size_of_val(&node.notify.notified());
        let done = std::mem::size_of_val(&node.done());
        assert!(
            done <= notified + 64,
            "done() is {done} bytes, Notified {notified}"
        );
    }

    #[test]
    fn a_dropped_child_leaves_its_parents_list() {
        let a = Node::new([None, None], None);
        let b = Node::new([None, None], None);
        let child = Node::new([Some(&a), Some(&b)], None);
        assert_eq!((listed(&a), listed(&b)), (1, 1));
        drop(child);
        assert_eq!((listed(&a), listed(&b)), (0, 0));
        // The freed slot is reused rather than the list growing.
        let again = Node::new([Some(&a), None], None);
        assert_eq!(lock(&a.children).slots.len(), 1);
        drop(again);
    }

    #[test]
    fn cancel_reaches_grandchildren_through_either_parent() {
        let a = Node::new([None, None], None);
        let b = Node::new([None, None], None);
        let child = Node::new([Some(&a), Some(&b)], None);
        let grandchild = Node::new([Some(&child), None], None);
        b.cancel(Why::CANCELED);
        assert_eq!(grandchild.err(), Some(ContextError::Canceled));
        assert_eq!(a.err(), None);
        // A done parent's list is closed and empty: nothing is kept alive by it.
        assert_eq!(listed(&b), 0);
        assert!(lock(&b.children).closed);
    }

    #[test]
    fn a_child_of_a_done_parent_is_born_done_with_its_reason() {
        let parent = Node::new([None, None], None);
        parent.cancel(Why::DEADLINE);
        let child = Node::new([Some(&parent), None], None);
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
    }

    #[test]
    fn a_deep_chain_cancels_without_recursion() {
        let root = Node::new([None, None], None);
        let mut chain = vec![Arc::clone(&root)];
        for _ in 0..100_000 {
            let next = Node::new([chain.last(), None], None);
            chain.push(next);
        }
        root.cancel(Why::CANCELED);
        assert_eq!(
            chain.last().and_then(|n| n.err()),
            Some(ContextError::Canceled)
        );
        // Dropping a long chain from the root end must not recurse either: each node is
        // freed by its own `Vec` slot here.
        while chain.pop().is_some() {}
    }
}

/// Model checks of the tree's own synchronisation (state, children lists), run with
/// `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.
#[cfg(all(test, async_tasks_loom))]
mod loom_models {
    use super::*;

    #[test]
    fn loom_a_child_made_while_its_parent_is_cancelled_ends_up_done() {
        loom::model(|| {
            let parent = Node::new([None, None], None);
            let canceller = {
                let parent = Arc::clone(&parent);
                loom::thread::spawn(move || parent.cancel(Why::CANCELED))
            };
            let child = Node::new([Some(&parent), None], None);
            canceller.join().unwrap();
            assert_eq!(child.err(), Some(ContextError::Canceled));
        });
    }

    #[test]
    fn loom_a_child_dropped_while_its_parent_is_cancelled_leaves_no_trace() {
        loom::model(|| {
            let parent = Node::new([None, None], None);
            let child = Node::new([Some(&parent), None], None);
            let dropper = loom::thread::spawn(move || drop(child));
            parent.cancel(Why::CANCELED);
            dropper.join().unwrap();
            let children = lock(&parent.children);
            assert!(children.closed);
            assert!(children.slots.is_empty());
        });
    }

    #[test]
    fn loom_two_parents_cancelling_at_once_set_the_child_once() {
        loom::model(|| {
            let a = Node::new([None, None], None);
            let b = Node::new([None, None], None);
            let child = Node::new([Some(&a), Some(&b)], None);
            let grandchild = Node::new([Some(&child), None], None);
            let by_a = {
                let a = Arc::clone(&a);
                loom::thread::spawn(move || a.cancel(Why::CANCELED))
            };
            b.cancel(Why::DEADLINE);
            by_a.join().unwrap();
            // Whoever won, the child and its own child agree, and it never changes.
            let reason = child.err();
            assert!(reason.is_some());
            assert_eq!(grandchild.err(), reason);
            child.cancel(Why::CANCELED);
            assert_eq!(child.err(), reason);
        });
    }

    #[test]
    fn loom_siblings_leave_while_others_join() {
        loom::model(|| {
            let parent = Node::new([None, None], None);
            let first = Node::new([Some(&parent), None], None);
            let leaver = loom::thread::spawn(move || drop(first));
            let second = Node::new([Some(&parent), None], None);
            leaver.join().unwrap();
            // The survivor is still listed, so a cancel still reaches it.
            parent.cancel(Why::CANCELED);
            assert_eq!(second.err(), Some(ContextError::Canceled));
        });
    }
}
