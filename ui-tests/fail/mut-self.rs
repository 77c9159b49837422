use async_tasks::{Context, Tasks, async_task};

#[derive(Clone, Default)]
struct Syncer {
    synced: usize,
}

impl Syncer {
    #[async_task]
    async fn sync_users(&mut self, _ctx: Context, batch: usize) {
        self.synced += batch;
    }
}

fn main() {
    let tasks = Tasks::new("users");
    let mut syncer = Syncer::default();
    tasks.run(&Context::background(), syncer.sync_users(500));
}
