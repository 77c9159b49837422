//! `target = "..."`: the span's target, as `#[tracing::instrument(target = ...)]` sets it.
#![deny(warnings)]

use async_tasks::{Context, Runner, async_task};

#[async_task(target = "billing", name = "charge", level = "debug")]
async fn charge(_ctx: Context, cents: u64) {
    let _ = cents;
}

#[async_task(target = "billing::refunds")]
async fn refund(_ctx: Context) {}

fn main() {
    assert_eq!(charge(100).name(), Some("charge"));
    assert_eq!(refund().name(), Some("refund"));
}
