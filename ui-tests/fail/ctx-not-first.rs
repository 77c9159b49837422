use async_tasks::{Context, Tasks, async_task};

#[async_task]
async fn sync_users(batch: usize, ctx: Context) {
    let _ = (batch, ctx);
}

fn main() {
    // As the fn is written: the stand-in keeps both arguments.
    let tasks = Tasks::new("users");
    let ctx = Context::background();
    tasks.run(&ctx, sync_users(500, ctx.clone()));
}
