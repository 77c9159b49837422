use async_tasks::{Context, Tasks, async_task};

// What someone used to `#[tracing::instrument]` writes first: each gets why it is not
// needed (or not supported) and what to do instead.
#[async_task(
    skip(db),
    skip_all,
    err,
    ret(Debug),
    parent = None,
    follows_from = [],
)]
async fn sync_users(_ctx: Context, db: String) {
    let _ = db;
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users(String::from("db")));
}
