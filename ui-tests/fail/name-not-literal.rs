use async_tasks::{Context, Tasks, async_task};

const NAME: &str = "sync-users";

#[async_task(name = NAME.trim())]
async fn sync_users(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new(NAME);
    tasks.run(&Context::background(), sync_users());
}
