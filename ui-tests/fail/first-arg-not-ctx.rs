use async_tasks::async_task;

#[async_task]
async fn sync_users(batch: usize) {
    let _ = batch;
}

fn main() {
    let _runner = sync_users(500);
}
