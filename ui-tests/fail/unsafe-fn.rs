use async_tasks::{Context, async_task};

#[async_task]
async unsafe fn sync_users(_ctx: Context) {}

fn main() {
    let _runner = unsafe { sync_users() };
}
