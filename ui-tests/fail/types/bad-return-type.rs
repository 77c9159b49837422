use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context) -> usize {
    500
}

fn main() {
    let _runner = sync_users();
}
