//! The live *named* tasks of one `Tasks`, for shutdown reports.
//!
//! Only runners with a [`name`](crate::Runner::name) are listed: an unnamed task would only
//! be listed under the `Tasks`' own name, which its count (the tracker's) already gives, and
//! listing costs two lock round trips on every spawn.
//!
//! Invariants:
//! - a named task is listed from just before it is spawned until its future is dropped
//!   (finished, or dropped with its runtime), by the [`Listed`] guard that the future owns;
//! - a slot is reused only after its task has left, so a guard never removes someone else.

use std::sync::Arc;

use crate::loom::{Mutex, lock};

/// One listed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The runner's name.
    pub(crate) name: &'static str,
}

#[derive(Default)]
pub(crate) struct Registry {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl Registry {
    /// Lists a task; it stays listed until the returned guard is dropped.
    pub(crate) fn insert(self: &Arc<Self>, entry: Entry) -> Listed {
        let mut slots = lock(&self.slots);
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
            slot,
        }
    }

    /// The tasks listed now, in no particular order.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        lock(&self.slots)
            .entries
            .iter()
            .flatten()
            .copied()
            .collect()
    }
}

/// Keeps one task listed in its [`Registry`] while alive.
pub(crate) struct Listed {
    registry: Arc<Registry>,
    slot: usize,
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut slots = lock(&self.registry.slots);
        slots.entries[self.slot] = None;
        slots.free.push(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_list_and_unlist_and_slots_are_reused() {
        let registry = Arc::new(Registry::default());
        let a = registry.insert(Entry { name: "a" });
        let b = registry.insert(Entry { name: "b" });
        assert_eq!(registry.entries().len(), 2);
        drop(a);
        assert_eq!(registry.entries(), [Entry { name: "b" }]);
        let c = registry.insert(Entry { name: "c" });
        assert_eq!(lock(&registry.slots).entries.len(), 2);
        drop((b, c));
        assert!(registry.entries().is_empty());
    }
}
