use async_tasks::{Context, async_task};

#[async_task]
fn sync_users(ctx: Context) -> Result<(), std::io::Error> {
    let _ = ctx;
    Ok(())
}

fn main() {
    let _runner = sync_users();
}
