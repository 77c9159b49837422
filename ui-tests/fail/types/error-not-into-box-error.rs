use async_tasks::{Context, async_task};

#[derive(Debug)]
struct NotAnError;

#[async_task]
async fn sync_users(_ctx: Context) -> Result<(), NotAnError> {
    Err(NotAnError)
}

fn main() {
    let _runner = sync_users();
}
