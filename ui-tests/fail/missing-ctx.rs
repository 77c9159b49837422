use async_tasks::async_task;

#[async_task]
async fn sync_users() {}

fn main() {
    let _runner = sync_users();
}
