use std::rc::Rc;

use async_tasks::{Context, async_task, sleep};

#[async_task]
async fn sync_users(ctx: Context, batch: usize) {
    let local = Rc::new(batch);
    let _ = sleep(&ctx, std::time::Duration::from_secs(1)).await;
    let _ = local;
}

fn main() {
    let _runner = sync_users(500);
}
