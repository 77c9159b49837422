use async_tasks::async_task;

// Every mistake of one item is reported, each at its own tokens.
#[async_task(nmae = "sync-users", level = 3)]
unsafe fn sync_users<T>(db: T, table: &str) {
    let _ = (db, table);
}

fn main() {}
