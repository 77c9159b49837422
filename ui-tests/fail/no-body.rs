use async_tasks::{Context, Tasks, async_task};

#[async_task]
async fn sync_users(ctx: Context, batch: usize);

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users(500));
}
