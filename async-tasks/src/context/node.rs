//! The private state behind a [`Context`](super::Context): one node of the cancellation tree.
//!
//! # Invariants
//!
//! Each with the reason it matters.
//!
//! 1. **The reason is sticky.** `state`'s reason bits move from `LIVE` to `CANCELED` or
//!    `DEADLINE` at most once and never change again, so the first reason wins and
//!    [`Context::err`](super::Context::err) never changes once `Some`.
//! 2. **A node is done whenever one of its parents is.** Cancellation is pushed down eagerly
//!    by [`Node::cancel`], so reading a node's own `state` is enough: `is_done` is one atomic
//!    load, with no walk up the parents.
//! 3. **A node is closing whenever one of its parents is**, and the `CLOSING` bit, once set,
//!    stays. Pushed down eagerly by [`Node::close`], for the same reason as 2: a loop checks
//!    it on every iteration.
//! 4. **`deadline` is the earliest** of the node's own deadline and all its parents', so a
//!    node whose `deadline` has passed is done even if nobody has canceled it yet; whoever
//!    reads the state notices that ([`Node::err`]) and stores it.
//! 5. **A node is listed in the `children` of each of its (at most two) parents** from its
//!    registration until it is dropped, unless that parent is done: a done parent's list is
//!    gone (nothing is kept for a cancel that has happened), and a child registered after
//!    that is born done with the parent's reason and cause. A closing parent's list stays:
//!    it can still be canceled.
//! 6. **`state` is only written under the node's own `children` lock** (by `cancel` and
//!    `close`), the `cause` (kept under that lock) before it: whoever sees the node done
//!    and then takes the lock sees its cause too, two writers never race, and a registrar
//!    that reads `state` under the parent's lock knows whether the parent is done.
//! 7. **Nothing waits on a node until it is first awaited**: the only waiter list is the
//!    `Notify`, which costs nothing while empty.
//! 8. **No walk recurses.** Dropping, canceling and closing go through a work list, so a
//!    chain of contexts of any depth (a task that runs itself again with its own context a
//!    million times) cannot overflow the stack.
//! 9. **A join node is never a parent of a join node it could be replaced by.** A node made
//!    by [`Node::join`] has no handle and no deadline of its own: nobody can cancel it but
//!    its parents. A join of it hangs on its parents instead, and a join with a node it
//!    already stands for — one of its ancestors through join nodes ([`Node::stands_for`]),
//!    however many sets the chain went through — is the node itself, so chains of joins do
//!    not grow: a context handed from set to set holds at most one join node per context
//!    it joined, whatever the order of the hops.
//!
//! # Lock order
//!
//! A node's `children` lock is never held while taking another node's lock: `new` takes
//! each parent's lock alone, `cancel` and `close` collect the children under the lock and
//! visit them after releasing it, and `Drop` takes each parent's lock alone. There is no
//! order to respect, so there can be no deadlock between nodes.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::Poll;

use slab::Slab;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::{Instant, Sleep};

use super::error::{Cause, ContextError};
use crate::loom::{AtomicU8, AtomicUsize, Mutex, lock};

/// The reason bits of `state`.
const REASON: u8 = 0b011;
const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE: u8 = 2;
/// Set once a set this node belongs to is closing (see invariant 3).
const CLOSING: u8 = 0b100;

/// Marks a parent link whose child was never listed (the parent was already done).
const UNLISTED: usize = usize::MAX;

fn encode(err: ContextError) -> u8 {
    match err {
        ContextError::Canceled => CANCELED,
        ContextError::DeadlineExceeded => DEADLINE,
    }
}

fn decode(state: u8) -> Option<ContextError> {
    match state & REASON {
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

///
/// Every task's context is one (the join of the caller's context and its set's), so its
/// size is the crate's memory per parked task: 120 bytes, which with `Arc`'s counts fills a
/// 144-byte allocation. What only some nodes need (a list of children, a cause) sits behind
/// the lock, the list boxed.
pub(crate) struct Node {
    state: AtomicU8,
    deadline: Option<Instant>,
    notify: Notify,
    children: Mutex<Children>,
    /// Taken by `Drop` (see invariant 8).
    parents: [Option<Link>; 2],
    /// Made by [`Node::join`]: no handle and no deadline of its own (invariant 9).
    joined: bool,
}

/// A child's link to one parent: the parent, and the child's slot in its `children`.
struct Link {
    parent: Arc<Node>,
    /// Written once under the parent's `children` lock, read under it again on drop.
    slot: AtomicUsize,
}

/// What a node keeps under its lock: its live children, in a slab so that a child leaves in
/// O(1) without moving its siblings' slots (boxed, made by the first child: most nodes, a
/// task's own context, never have one), and the cause of the cancel that made it done.
#[derive(Default)]
struct Children {
    /// Taken by the cancel that made the node done: from then on nothing is listed
    /// (a registrar reads `state` under this lock first, invariant 6).
    list: Option<Box<Slab<Weak<Node>>>>,
    /// Set once, by the cancel that made the node done, before `state`.
    cause: Option<Cause>,
}

impl Children {
    fn remove(&mut self, slot: usize) {
        if let Some(list) = self.list.as_mut().filter(|_| slot != UNLISTED) {
            list.try_remove(slot);
        }
    }

    fn live(&self) -> Vec<Arc<Node>> {
        self.list
            .iter()
            .flat_map(|list| list.iter())
            .filter_map(|(_, child)| child.upgrade())
            .collect()
    }
}

impl Node {
    /// A node with no parent: the root of a tree of its own.
    #[cfg(test)]
    pub(crate) fn root(deadline: Option<Instant>) -> Arc<Node> {
        Node::new([None, None], deadline, false)
    }

    /// A node that is a child of `parent`, with `deadline` of its own on top of its parent's.
    pub(crate) fn child(parent: Option<&Arc<Node>>, deadline: Option<Instant>) -> Arc<Node> {
        Node::new([parent, None], deadline, false)
    }

    /// A node that is done when `a` or `b` is, with nothing of its own, hung on as few
    /// parents as can stand for them (invariant 9): a join node stands for its parents, and a
    /// parent that is also a parent's parent adds nothing. At most two parents are kept; a
    /// join that would need more keeps `a` and `b` themselves.
    pub(crate) fn join(a: &Arc<Node>, b: &Arc<Node>) -> Arc<Node> {
        // At most four candidates (two join nodes' parents): an array, nothing allocated.
        let mut candidates: [Option<&Arc<Node>>; 4] = [None; 4];
        let mut n = 0;
        for side in [a, b] {
            if side.joined {
                for link in side.parents.iter().flatten() {
                    candidates[n] = Some(&link.parent);
                    n += 1;
                }
            } else {
                candidates[n] = Some(side);
                n += 1;
            }
        }
        let candidates = &candidates[..n];
        let redundant = |i: usize, p: &Arc<Node>| {
            candidates.iter().flatten().enumerate().any(|(j, q)| {
                // The same node twice, or one that another candidate already hangs on.
                (j < i && Arc::ptr_eq(p, q)) || (j != i && q.has_parent(p))
            })
        };
        let mut kept: [Option<&Arc<Node>>; 2] = [None; 2];
        let mut k = 0;
        for (i, p) in candidates.iter().flatten().enumerate() {
            if redundant(i, p) {
                continue;
            }
            if k == kept.len() {
                // Three that stand on their own: keep the two sides themselves.
                return Node::new([Some(a), Some(b)], None, true);
            }
            kept[k] = Some(p);
            k += 1;
        }
        Node::new(kept, None, true)
    }

    /// A node that is a child of every node in `parents` (at most two), with `deadline` of
    /// its own on top of theirs.
    fn new(parents: [Option<&Arc<Node>>; 2], deadline: Option<Instant>, joined: bool) -> Arc<Node> {
        let deadline = parents
            .iter()
            .flatten()
            .filter_map(|p| p.deadline)
            .chain(deadline)
            .min();
        let node = Arc::new(Node {
            state: AtomicU8::new(LIVE),
            deadline,
            notify: Notify::new(),
            children: Mutex::new(Children::default()),
            parents: parents.map(|p| {
                p.map(|parent| Link {
                    parent: Arc::clone(parent),
                    slot: AtomicUsize::new(UNLISTED),
                })
            }),
            joined,
        });
        let mut closing = false;
        for link in node.parents.iter().flatten() {
            let parent = &link.parent;
            let mut children = lock(&parent.children);
            // Relaxed: `state` is only written under this lock (invariant 6).
            let state = parent.state.load(Ordering::Relaxed);
            if let Some(reason) = decode(state) {
                let cause = children.cause.clone();
                drop(children);
                // The parent finished before we could listen: inherit its reason and cause as
                // they are (its first reason wins, even if the deadline we share with it has
                // passed since), as Go's `propagateCancel` does. A newborn has no children,
                // so there is nothing to pass on.
                let inherited = node.cancel_one(Why { reason, cause }, None);
                debug_assert!(inherited.is_none());
            } else {
                let list = children.list.get_or_insert_with(Box::default);
                let slot = list.insert(Arc::downgrade(&node));
                // Relaxed: the slot is only ever read under this same lock.
                link.slot.store(slot, Ordering::Relaxed);
                // Read under the parent's lock, which `close` sets the bit under: either the
                // bit is seen here, or the parent's close finds this child in its list.
                closing |= state & CLOSING != 0;
            }
        }
        if closing {
            // Taken after the parent's lock is released (see "Lock order").
            let children = node.close_one();
            debug_assert!(children.is_empty());
        }
        node
    }

    /// Whether `parent` is one of this node's direct parents.
    pub(crate) fn has_parent(&self, parent: &Arc<Node>) -> bool {
        self.parents
            .iter()
            .flatten()
            .any(|link| Arc::ptr_eq(&link.parent, parent))
    }

    /// Whether `other` is one of this node's ancestors through join nodes only: a direct
    /// parent, or a parent of a join node it hangs on, and so on (invariant 9). This node is
    /// then done (and closing) whenever `other` is, and its deadline is no later: a join of
    /// the two is this node.
    ///
    /// A walk up the chain of joins, which holds one join node per context it stands for
    /// (a task's context handed from set to set), never through a node with a handle (a
    /// user's chain of `with_cancel` can be as long as the program made it). Where a join
    /// node hangs on two join nodes (no public way makes one), only the first is followed:
    /// an answer of `false` costs a node, never correctness.
    pub(crate) fn stands_for(&self, other: &Arc<Node>) -> bool {
        let mut node = self;
        loop {
            let mut up = None;
            for link in node.parents.iter().flatten() {
                if Arc::ptr_eq(&link.parent, other) {
                    return true;
                }
                if link.parent.joined && up.is_none() {
                    up = Some(&link.parent);
                }
            }
            match up {
                Some(join) => node = join,
                None => return false,
            }
        }
    }

    /// How many nodes this one keeps alive: itself and every ancestor, each once. For the
    /// reliability tests (`__private::probes`), which check that joins do not pile up; a walk
    /// of the whole ancestry, never called by the crate itself.
    pub(crate) fn held(self: &Arc<Node>) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut pending = vec![Arc::clone(self)];
        while let Some(node) = pending.pop() {
            if seen.insert(Arc::as_ptr(&node)) {
                pending.extend(
                    node.parents
                        .iter()
                        .flatten()
                        .map(|link| Arc::clone(&link.parent)),
                );
            }
        }
        seen.len()
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Why this node is done, or `None` while it is live.
    #[inline]
    pub(crate) fn err(&self) -> Option<ContextError> {
        // Acquire: pairs with the Release store in `cancel_one`, so whoever sees a node done
        // also sees its cause and everything its canceler did before canceling.
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

    /// Whether this node is closing or done: in one atomic load while it is live and has no
    /// deadline (a loop's check before each iteration).
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        // Acquire: as in `err`.
        self.state.load(Ordering::Acquire) != LIVE || self.err().is_some()
    }

    /// Marks this node and all its descendants done, each with `why` unless its own
    /// deadline had passed already (then that came first, with no cause). A node that is
    /// done already keeps its reason and cause.
    pub(crate) fn cancel(&self, why: Why) {
        let now = Some(Instant::now());
        // A work list of the lists still to visit, not recursion (invariant 8). Each child
        // is canceled right after it is upgraded, in one visit: a cancel of many children
        // (every task of a set) touches each child's node once, and collects nothing.
        let mut pending: Vec<(Box<Slab<Weak<Node>>>, Why)> =
            self.cancel_one(why, now).into_iter().collect();
        while let Some((children, why)) = pending.pop() {
            for (_, child) in *children {
                if let Some(child) = child.upgrade() {
                    pending.extend(child.cancel_one(why.clone(), now));
                }
            }
        }
    }

    /// Cancels this node alone and returns its children, with the `Why` they inherit, if it
    /// has any. With `now`, a deadline of the node's own that passed by then wins over `why`.
    fn cancel_one(&self, why: Why, now: Option<Instant>) -> Option<(Box<Slab<Weak<Node>>>, Why)> {
        let mut children = lock(&self.children);
        // Only writers hold this lock (invariant 6): Relaxed is enough to read.
        let state = self.state.load(Ordering::Relaxed);
        if state & REASON != LIVE {
            return None;
        }
        let why = match (self.deadline, now) {
            (Some(deadline), Some(now)) if deadline <= now => Why::DEADLINE,
            _ => why,
        };
        // Not set already: only the cancel that makes the node done sets it.
        children.cause.clone_from(&why.cause);
        // Release: pairs with the Acquire in `err`, so that whoever sees the node done also
        // sees its cause and everything its canceler did before. The closing bit is kept.
        self.state
            .store(state | encode(why.reason), Ordering::Release);
        let listed = children.list.take();
        drop(children);
        self.notify.notify_waiters();
        listed
            .filter(|listed| !listed.is_empty())
            .map(|listed| (listed, why))
    }

    /// Marks this node and all its descendants closing (invariant 3).
    pub(crate) fn close(&self) {
        let mut pending = self.close_one();
        // A work list, not recursion (invariant 8).
        while let Some(child) = pending.pop() {
            pending.extend(child.close_one());
        }
    }

    /// Marks this node alone closing and returns its children; nothing if it was already.
    fn close_one(&self) -> Vec<Arc<Node>> {
        let children = lock(&self.children);
        // Relaxed: only writers hold this lock (invariant 6).
        let state = self.state.load(Ordering::Relaxed);
        if state & CLOSING != 0 {
            return Vec::new();
        }
        // Release: pairs with the Acquire in `is_closing`.
        self.state.store(state | CLOSING, Ordering::Release);
        let listed = children.live();
        drop(children);
        self.notify.notify_waiters();
        listed
    }

    /// The cause given with the cancel that made this node done, if any.
    pub(crate) fn cause(&self) -> Option<Cause> {
        // Rare (a cancellation's report): the lock, not a field of every node.
        lock(&self.children).cause.clone()
    }

    /// Whether what [`Node::wait`] waits for has come.
    fn reached(&self, closing: bool) -> bool {
        if closing {
            self.is_closing()
        } else {
            self.err().is_some()
        }
    }

    /// Resolves once the node is done, or with `closing`, once it is closing or done: see
    /// [`Wait`].
    pub(crate) fn wait(&self, closing: bool) -> Wait<'_> {
        Wait {
            node: self,
            closing,
            // Made now, before the first check: `notify_waiters` reaches a `Notified` from
            // the moment it exists, so a change between the check and the await is not
            // missed.
            notified: self.notify.notified(),
            timer: None,
        }
    }

    /// Resolves once the node is canceled, ignoring its deadline (for callers that run
    /// their own timer, like `sleep_until`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Node::wait`].
    pub(crate) async fn canceled(&self) {
        loop {
            let notified = pin!(self.notify.notified());
            // Acquire: as in `err`.
            if decode(self.state.load(Ordering::Acquire)).is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Leaves every parent's list and hands back the parents, so that `Drop` can let go of
    /// them without recursing.
    fn leave_parents(&mut self) -> [Option<Arc<Node>>; 2] {
        self.parents.each_mut().map(|link| {
            let link = link.take()?;
            let parent = link.parent;
            // A done parent has closed its list, or is about to: its canceler will find
            // this child's `Weak` dead and skip it. No need to take the lock (this is what
            // thousands of tasks ending together after a shutdown would contend on).
            // Acquire: pairs with the Release store in `cancel_one`.
            if decode(parent.state.load(Ordering::Acquire)).is_none() {
                lock(&parent.children).remove(link.slot.load(Ordering::Relaxed));
            }
            Some(parent)
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Letting go of a parent may drop it, which would drop its parents, and so on: a
        // chain of any length. Each node freed here gives up its parents to this work list
        // first, so that its own `Drop` has nothing left to do (invariant 8).
        fn release(parent: Arc<Node>, pending: &mut Vec<Arc<Node>>) {
            // `into_inner` gives the node back only to its last owner, once.
            if let Some(mut freed) = Arc::into_inner(parent) {
                pending.extend(freed.leave_parents().into_iter().flatten());
            }
        }
        // Empty until a parent is freed here: the common drop allocates nothing.
        let mut pending: Vec<Arc<Node>> = Vec::new();
        for parent in self.leave_parents().into_iter().flatten() {
            release(parent, &mut pending);
        }
        while let Some(parent) = pending.pop() {
            release(parent, &mut pending);
        }
    }
}

pin_project_lite::pin_project! {
    /// What [`Node::wait`] returns: resolves once the node is done, or with `closing`,
    /// once it is closing or done. A deadline is noticed by a timer made at the first poll
    /// that needs it.
    ///
    /// A future of its own (not an `async fn`) so that [`Done`](super::Done) and
    /// [`Closing`](super::Closing) can name it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it deregisters its waiter (tokio's `Notified`) and its timer.
    pub(crate) struct Wait<'a> {
        node: &'a Node,
        closing: bool,
        #[pin]
        notified: Notified<'a>,
        // Boxed, and only for a node with a deadline: a timer is large, and a future parked
        // without one (the common case: every task parked in `ctx.done()`) should not carry
        // its size.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        loop {
            if this.node.reached(*this.closing) {
                return Poll::Ready(());
            }
            if this.notified.as_mut().poll(cx).is_ready() {
                // Woken: wait again with a fresh `Notified`, made before the next check.
                this.notified.set(this.node.notify.notified());
                continue;
            }
            if let Some(deadline) = this.node.deadline {
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.node.cancel(Why::DEADLINE);
                    return Poll::Ready(());
                }
            }
            return Poll::Pending;
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, async_tasks_loom))]
mod loom_models;
