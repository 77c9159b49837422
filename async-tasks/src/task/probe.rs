//! What the reliability tests read of a set that the public API does not show, for
//! `__private::probes`. Never called by the crate itself.

use std::sync::Arc;

use super::tasks::Tasks;

impl Tasks {
    /// How many reports and drains the sets of this subtree hand their ended tasks to,
    /// summed over the sets: 0 whenever none is under way.
    /// (A set's shutdown record, kept from its first close until a report takes it, is
    /// not counted: it is not a report's or a drain's.)
    pub(crate) fn collectors_held(&self) -> usize {
        self.set
            .subtree()
            .iter()
            .map(|set| {
                let records: Vec<_> = set.lineage().filter_map(|set| set.record()).collect();
                set.listing
                    .collectors()
                    .iter()
                    .filter(|collector| {
                        !records.iter().any(|record| Arc::ptr_eq(record, collector))
                    })
                    .count()
            })
            .sum()
    }
}
