use async_tasks::{Context, async_task};

#[async_task]
const fn sync_users(_ctx: Context) {}

fn main() {
    let _runner = sync_users();
}
