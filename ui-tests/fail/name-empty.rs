use async_tasks::{Context, async_task};

#[async_task(name = "")]
async fn sync_users(_ctx: Context) {}

fn main() {}
