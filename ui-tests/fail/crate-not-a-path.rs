use async_tasks::{Context, Tasks, async_task};

#[async_task(crate = 1)]
async fn sync_users(_ctx: Context) {}

#[async_task(crate = my_crate::)]
async fn sync_groups(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
    tasks.run(&Context::background(), sync_groups());
}
