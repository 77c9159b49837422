#![deny(unused_must_use)]

use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context) {}

fn main() {
    sync_users();
}
