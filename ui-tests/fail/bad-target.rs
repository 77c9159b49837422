use async_tasks::{Context, Tasks, async_task};

const TARGET: &str = "billing";

#[async_task(target = TARGET)]
async fn sync_users(_ctx: Context) {}

#[async_task(target = "")]
async fn sync_groups(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new(TARGET);
    tasks.run(&Context::background(), sync_users());
    tasks.run(&Context::background(), sync_groups());
}
