use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context, #[cfg(test)] table: String) {}

fn main() {}
