use async_tasks::{Context, Tasks, async_task};

#[async_task(
    name = "sync-users",
    level = "debug",
    target = "users",
    fields(batch),
    crate = ::async_tasks,
    name = "sync",
    level = "info",
    target = "jobs",
    fields(table),
    crate = async_tasks,
)]
async fn sync_users(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
}
