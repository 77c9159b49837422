use async_tasks::{Context, async_task};

struct Db {
    url: String,
}

#[async_task]
async fn sync_users(_ctx: Context, db: Db, batch: usize) {
    let _ = (db.url, batch);
}

fn main() {
    let _runner = sync_users(Db { url: String::new() }, 500);
}
