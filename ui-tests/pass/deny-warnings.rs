//! A crate that depends on `async-tasks` alone, denies every warning, and uses every option:
//! the expansion needs no `tracing`, `async-trait` or `tokio` of its own and warns about
//! nothing.
#![deny(warnings)]
#![forbid(unsafe_code)]

use async_tasks::{BoxError, Context, Runner, Tasks, async_task};

#[derive(Clone, Debug)]
struct Db {
    name: &'static str,
}

/// A poller.
#[async_task(
    name = "sync-users",
    level = "warn",
    fields(db.name = db.name, batch, %shown = batch, ?debugged = db, ?db),
)]
async fn sync_users(ctx: Context, db: Db, mut batch: usize) -> Result<(), BoxError> {
    batch += 1;
    if ctx.is_done() || batch == 0 {
        return Err(format!("{} stopped", db.name).into());
    }
    Ok(())
}

fn main() {
    let runner = sync_users(Db { name: "users" }, 500);
    assert_eq!(runner.name(), Some("sync-users"));
    let copy = runner.clone();
    let _ = (copy, Tasks::new("unused"));
}
