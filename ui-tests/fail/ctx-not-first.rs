use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(batch: usize, ctx: Context) {
    let _ = (batch, ctx);
}

fn main() {}
