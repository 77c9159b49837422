//! Without `name`, the span (and the runner) is named after the fn, raw prefix dropped.
#![deny(warnings)]

use async_tasks::{Context, Runner, async_task};

#[async_task]
async fn sync_users(_ctx: Context) {}

#[async_task(level = "debug")]
async fn r#loop(_ctx: Context) {}

fn main() {
    assert_eq!(sync_users().name(), Some("sync_users"));
    assert_eq!(r#loop().name(), Some("loop"));
}
