use async_tasks::{Context, Tasks, async_task};

#[async_task(level = "verbose")]
async fn sync_users(_ctx: Context) {}

#[async_task(level = Level::LOUD)]
async fn sync_groups(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
    tasks.run(&Context::background(), sync_groups());
}
