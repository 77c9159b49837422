//! Model checks of the tree's own synchronisation (state, children lists), run with
//! `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.

use super::*;

#[test]
fn loom_a_child_made_while_its_parent_is_canceled_ends_up_done() {
    loom::model(|| {
        let parent = Node::root(None);
        let canceler = {
            let parent = Arc::clone(&parent);
            loom::thread::spawn(move || parent.cancel(Why::CANCELED))
        };
        let child = Node::child(Some(&parent), None);
        canceler.join().unwrap();
        assert_eq!(child.err(), Some(ContextError::Canceled));
    });
}

#[test]
fn loom_a_child_made_while_its_parent_closes_ends_up_closing() {
    loom::model(|| {
        let parent = Node::root(None);
        let closer = {
            let parent = Arc::clone(&parent);
            loom::thread::spawn(move || parent.close())
        };
        let child = Node::child(Some(&parent), None);
        closer.join().unwrap();
        assert!(child.is_closing());
        assert_eq!(child.err(), None);
    });
}

#[test]
fn loom_a_child_dropped_while_its_parent_is_canceled_leaves_no_trace() {
    loom::model(|| {
        let parent = Node::root(None);
        let child = Node::child(Some(&parent), None);
        let dropper = loom::thread::spawn(move || drop(child));
        parent.cancel(Why::CANCELED);
        dropper.join().unwrap();
        // The list is gone with the cancel, and nothing was listed after it.
        assert!(lock(&parent.children).list.is_none());
    });
}

#[test]
fn loom_two_parents_canceling_at_once_set_the_child_once() {
    loom::model(|| {
        let a = Node::root(None);
        let b = Node::root(None);
        let child = Node::new([Some(&a), Some(&b)], None, false);
        let grandchild = Node::child(Some(&child), None);
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
fn loom_a_close_and_a_cancel_at_once_keep_both_marks() {
    loom::model(|| {
        let parent = Node::root(None);
        let child = Node::child(Some(&parent), None);
        let closer = {
            let parent = Arc::clone(&parent);
            loom::thread::spawn(move || parent.close())
        };
        parent.cancel(Why::CANCELED);
        closer.join().unwrap();
        assert_eq!(child.err(), Some(ContextError::Canceled));
        assert!(parent.is_closing());
        assert_eq!(parent.state.load(Ordering::Relaxed) & CLOSING, CLOSING);
    });
}

#[test]
fn loom_siblings_leave_while_others_join() {
    loom::model(|| {
        let parent = Node::root(None);
        let first = Node::child(Some(&parent), None);
        let leaver = loom::thread::spawn(move || drop(first));
        let second = Node::child(Some(&parent), None);
        leaver.join().unwrap();
        // The survivor is still listed, so a cancel still reaches it.
        parent.cancel(Why::CANCELED);
        assert_eq!(second.err(), Some(ContextError::Canceled));
    });
}
