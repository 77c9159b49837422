use async_tasks::{Context, async_task};

const NAME: &str = "sync-users";

#[async_task(name = NAME.trim())]
async fn sync_users(_ctx: Context) {}

fn main() {}
