//! Waiting for a set's tasks: [`wait_checked`], which refuses to wait from inside one of
//! them (it would wait for itself forever), and [`wait_for`], bounded, which names the
//! tasks still running when time runs out.

use std::sync::Arc;
use std::time::Duration;

use super::current::with_current;
use super::set::Set;
use super::shutdown::{ShutdownTimeout, qualified};

/// Waits until no task of `set` or its descendants runs, refusing to wait from inside one
/// of them; `op` names the method the user called.
///
/// # Panics
///
/// If called from inside a task of `set` or of a descendant (see `Tasks::wait`).
///
/// # Cancel safety
///
/// Cancel safe: it only waits, and the check takes nothing.
pub(super) async fn wait_checked(set: &Arc<Set>, op: &str) {
    let inside = with_current(|current| current.is_some_and(|current| current.is_within(set)));
    assert!(
        !inside,
        "`Tasks::wait` was called from inside a task of the same `Tasks` (`{}`){}: it \
         would wait for itself forever; wait from outside the set, or run the inner work \
         on a second `Tasks` (not this one's child)",
        set.path,
        if op == "wait" {
            String::new()
        } else {
            format!(", by `Tasks::{op}`")
        },
    );
    set.tracker.wait().await;
}

/// Waits up to `limit` for every task of `set`; on time out, names those still running.
///
/// # Cancel safety
///
/// Cancel safe: it only waits (the trackers and a timer), and leaves nothing behind.
pub(super) async fn wait_for(
    set: &Arc<Set>,
    op: &'static str,
    limit: Duration,
) -> Result<(), ShutdownTimeout> {
    if tokio::time::timeout(limit, wait_checked(set, op))
        .await
        .is_ok()
    {
        return Ok(());
    }
    Err(ShutdownTimeout::new(
        set.path.to_string(),
        op,
        running_names(set),
    ))
}

/// The tasks of `set` and its descendants running now, sorted, as reports name them:
/// listed tasks by name, the unlisted rest by their set's name. The counts are read apart,
/// so a task ending in between may be missed: this is a snapshot.
pub(super) fn running_names(set: &Arc<Set>) -> Vec<String> {
    let mut names: Vec<String> = set
        .snapshot()
        .tasks
        .iter()
        .map(|task| qualified(&set.path, &task.tasks, &task.name))
        .collect();
    for (child, unlisted) in set.unlisted_by_set() {
        let name = qualified(&set.path, &child.path, &child.name);
        names.extend(std::iter::repeat_n(name, unlisted));
    }
    names.sort();
    names
}
