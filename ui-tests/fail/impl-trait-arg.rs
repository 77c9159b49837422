use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(ctx: Context, db: impl Clone + Send + Sync + 'static) {
    let _ = (ctx, db);
}

fn main() {
    let _runner = sync_users(String::new());
}
