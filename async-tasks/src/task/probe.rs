//! What the reliability tests read of a set that the public API does not show, for
//! `__private::probes`. Never called by the crate itself.

use super::tasks::Tasks;

impl Tasks {
    /// How many reports and drains the sets of this subtree hand their ended tasks to,
    /// summed over the sets: 0 whenever none is under way.
    pub(crate) fn collectors_held(&self) -> usize {
        self.set
            .subtree()
            .iter()
            .map(|set| set.listing.collectors().len())
            .sum()
    }
}
