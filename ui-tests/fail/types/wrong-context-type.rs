use async_tasks::async_task;

struct Context;

#[async_task]
async fn sync_users(ctx: Context) {
    let _ = ctx;
}

fn main() {
    let _runner = sync_users();
}
