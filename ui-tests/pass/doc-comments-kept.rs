//! Doc comments and other attributes stay on the generated fn: with `missing_docs` denied,
//! this compiles only if the docs are kept.
#![deny(missing_docs, warnings)]

/// Tasks of this crate.
pub mod jobs {
    use async_tasks::{Context, async_task};

    /// Syncs users, in batches.
    ///
    /// Runs until the batch is empty.
    #[async_task(name = "sync-users")]
    #[inline]
    pub async fn sync_users(_ctx: Context, batch: usize) {
        let _ = batch;
    }

    /// With a `#[must_use]` of its own, which the attribute does not add a second time.
    #[async_task]
    #[must_use = "a cleanup does nothing until it runs"]
    pub async fn cleanup(_ctx: Context) {}

    /// Kept for old callers.
    #[deprecated = "use `sync_users`"]
    #[async_task]
    pub async fn legacy_sync(_ctx: Context) {}
}

#[allow(deprecated)]
fn main() {
    let _runners = (jobs::sync_users(500), jobs::legacy_sync(), jobs::cleanup());
}
