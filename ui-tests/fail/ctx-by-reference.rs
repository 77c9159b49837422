use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(ctx: &Context, batch: usize) {
    let _ = (ctx, batch);
}

fn main() {
    let _runner = sync_users(500);
}
