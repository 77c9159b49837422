use async_tasks::{Context, async_task};

#[async_task(name = sync_users)]
async fn sync_users(_ctx: Context) {}

fn main() {}
