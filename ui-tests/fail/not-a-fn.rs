use async_tasks::async_task;

#[async_task(name = "users")]
struct SyncUsers {
    batch: usize,
}

fn main() {
    let _ = SyncUsers { batch: 500 }.batch;
}
