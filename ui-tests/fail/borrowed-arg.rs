use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(ctx: Context, table: &str) {
    let _ = (ctx, table);
}

fn main() {
    let _runner = sync_users("users");
}
