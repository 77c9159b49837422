use async_tasks::{Context, async_task};

#[async_task(name = "sync-users", skip_all)]
async fn sync_users(_ctx: Context) {}

fn main() {}
