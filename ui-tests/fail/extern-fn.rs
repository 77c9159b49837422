use async_tasks::{Context, async_task};

#[async_task]
async extern "C" fn sync_users(_ctx: Context) {}

fn main() {
    let _runner = sync_users();
}
