use async_tasks::{Context, Tasks, async_task};

#[async_task(fields(batch = 500, table = "users", batch = 100))]
async fn sync_users(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
}
