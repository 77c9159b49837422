use async_tasks::{Context, async_task};

#[async_task]
async fn add_user(ctx: Context, name: String) {
    let _ = (ctx, name);
}

// What one writes first: the fn called as it reads. The fix is `add_user(name).run(ctx)`.
async fn handler(ctx: Context) {
    add_user(ctx, "ada".into()).await;
}

fn main() {
    let _ = handler(Context::background());
}
