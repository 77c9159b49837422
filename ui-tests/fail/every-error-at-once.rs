use async_tasks::{Context, Tasks, async_task};

// Every mistake of one item is reported, each at its own tokens.
#[async_task(nmae = "sync-users", level = 3)]
unsafe fn sync_users<T>(db: T, table: &str) {
    let _ = (db, table);
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), unsafe { sync_users(1, "users") });
}
