use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users<Db: Clone + Send + Sync + 'static>(ctx: Context, db: Db) {
    let _ = (ctx, db);
}

fn main() {
    let _runner = sync_users(String::new());
}
