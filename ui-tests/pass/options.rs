//! Every spelling of the options is accepted.
#![deny(warnings)]

use async_tasks::{Context, Runner, async_task};

#[async_task(level = "TRACE")]
async fn upper(_ctx: Context) {}

#[async_task(level = Level::ERROR, name = "path-level")]
async fn path_level(_ctx: Context) {}

#[async_task(level = tracing::Level::INFO)]
async fn full_path_level(_ctx: Context) {}

#[async_task(fields())]
async fn no_fields(_ctx: Context) {}

#[async_task(
    fields(
        a = 1,
        b.c.d = "dotted",
        empty,
        %display_local,
        ?debug_local,
        e = %display_local,
        f = ?debug_local,
        g = display_local.len(),
    ),
    crate = "async_tasks",
)]
async fn all_fields(_ctx: Context, display_local: String, debug_local: Vec<u8>) {
    let _ = (display_local, debug_local);
}

fn main() {
    assert_eq!(upper().name(), Some("upper"));
    assert_eq!(path_level().name(), Some("path-level"));
    assert_eq!(full_path_level().name(), Some("full_path_level"));
    assert_eq!(no_fields().name(), Some("no_fields"));
    assert_eq!(
        all_fields(String::new(), Vec::new()).name(),
        Some("all_fields")
    );
}
