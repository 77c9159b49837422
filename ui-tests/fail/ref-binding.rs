use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context, ref table: String) {
    let _ = table;
}

fn main() {
    let _runner = sync_users(String::from("users"));
}
