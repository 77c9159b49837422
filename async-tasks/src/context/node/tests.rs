//! Unit tests of the context tree: sizes, listing, cancellation, closing, joins.

use super::*;

fn listed(node: &Arc<Node>) -> usize {
    lock(&node.children)
        .list
        .as_ref()
        .map_or(0, |list| list.len())
}

#[test]
fn a_node_fills_no_more_than_a_144_byte_allocation() {
    // Every task's context is a node: with `Arc`'s two counts, 120 bytes fill an allocation
    // of 144 with glibc's malloc (152 would take 160). The memory per parked task
    // (BENCHMARKS.md) moves with it.
    let size = std::mem::size_of::<Node>();
    assert!(size <= 120, "a node is {size} bytes");
}

#[test]
fn a_parked_wait_stays_small() {
    // Every task parked in `ctx.done()` holds this future: keep it about the size of
    // tokio's own `Notified` (the anchor of the memory benchmark).
    let node = Node::root(None);
    let notified = std::mem::size_of_val(&node.notify.notified());
    let done = std::mem::size_of_val(&node.wait(false));
    assert!(
        done <= notified + 64,
        "wait() is {done} bytes, Notified {notified}"
    );
}

#[test]
fn a_dropped_child_leaves_its_parents_list() {
    let a = Node::root(None);
    let b = Node::root(None);
    let child = Node::new([Some(&a), Some(&b)], None, false);
    assert_eq!((listed(&a), listed(&b)), (1, 1));
    drop(child);
    assert_eq!((listed(&a), listed(&b)), (0, 0));
    // The freed slot is reused rather than the list growing.
    let again = Node::child(Some(&a), None);
    assert!(
        lock(&a.children)
            .list
            .as_ref()
            .is_some_and(|list| list.contains(0))
    );
    assert_eq!(listed(&a), 1);
    drop(again);
}

#[test]
fn cancel_reaches_grandchildren_through_either_parent() {
    let a = Node::root(None);
    let b = Node::root(None);
    let child = Node::new([Some(&a), Some(&b)], None, false);
    let grandchild = Node::child(Some(&child), None);
    b.cancel(Why::CANCELED);
    assert_eq!(grandchild.err(), Some(ContextError::Canceled));
    assert_eq!(a.err(), None);
    // A done parent's list is gone: nothing is kept alive by it.
    assert!(lock(&b.children).list.is_none());
}

#[test]
fn closing_reaches_descendants_and_newborns_without_ending_them() {
    let parent = Node::root(None);
    let child = Node::child(Some(&parent), None);
    parent.close();
    assert!(child.is_closing());
    assert_eq!(child.err(), None);
    let newborn = Node::child(Some(&parent), None);
    assert!(newborn.is_closing());
    // Still cancelable: a closing parent keeps its list.
    parent.cancel(Why::CANCELED);
    assert_eq!(newborn.err(), Some(ContextError::Canceled));
}

#[test]
fn a_join_hangs_on_the_parents_it_stands_for() {
    let user = Node::root(None);
    let set = Node::root(None);
    let task = Node::join(&user, &set);
    // A join of a join with one of its own parents needs no node in between.
    let again = Node::join(&task, &set);
    assert!(again.has_parent(&user) && again.has_parent(&set));
    assert!(!again.has_parent(&task));
    // A parent that another candidate hangs on adds nothing.
    let child_set = Node::child(Some(&set), None);
    let nested = Node::join(&task, &child_set);
    assert!(nested.has_parent(&user) && nested.has_parent(&child_set));
    // Three parents that stand on their own: the join keeps its two sides.
    let other = Node::root(None);
    let wide = Node::join(&task, &other);
    assert!(wide.has_parent(&task) && wide.has_parent(&other));
}

#[test]
fn a_join_stands_for_its_ancestors_through_joins_only() {
    let (user, a, b, c) = (
        Node::root(None),
        Node::root(None),
        Node::root(None),
        Node::root(None),
    );
    // A chain of joins through three sets, as work handed from set to set makes it.
    let on_a = Node::join(&user, &a);
    let on_b = Node::join(&on_a, &b);
    let on_c = Node::join(&on_b, &c);
    for stood_for in [&user, &a, &b, &c, &on_a, &on_b] {
        assert!(on_c.stands_for(stood_for));
    }
    assert!(
        !on_a.stands_for(&b),
        "a join does not stand for what it never joined"
    );
    // Not through a node with a handle: a child of the chain can be canceled on its own.
    let own = Node::child(Some(&on_c), None);
    let on_d = Node::join(&own, &Node::root(None));
    assert!(on_d.stands_for(&own));
    assert!(!on_d.stands_for(&a));
}

#[test]
fn a_child_of_a_done_parent_is_born_done_with_its_reason() {
    let parent = Node::root(None);
    parent.cancel(Why::DEADLINE);
    let child = Node::child(Some(&parent), None);
    assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
}

#[test]
fn a_deep_chain_cancels_without_recursion() {
    let root = Node::root(None);
    let mut chain = vec![Arc::clone(&root)];
    for _ in 0..100_000 {
        let next = Node::child(chain.last(), None);
        chain.push(next);
    }
    root.cancel(Why::CANCELED);
    assert_eq!(
        chain.last().and_then(|n| n.err()),
        Some(ContextError::Canceled)
    );
}
