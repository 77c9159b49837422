use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context) -> Result<usize, std::io::Error> {
    Ok(500)
}

fn main() {
    let _runner = sync_users();
}
