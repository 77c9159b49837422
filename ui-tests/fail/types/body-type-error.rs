use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context, batch: usize) -> Result<(), std::io::Error> {
    let half: u32 = batch / 2;
    let _ = half;
    Ok(())
}

#[async_task]
async fn unit_body(_ctx: Context) {
    500
}

fn main() {
    let _runners = (sync_users(500), unit_body());
}
