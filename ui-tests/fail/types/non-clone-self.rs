use async_tasks::{Context, Tasks, async_task};

struct Syncer;

impl Syncer {
    #[async_task]
    async fn sync_users(&self, ctx: Context) {
        let _ = (self, ctx);
    }
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), Syncer.sync_users());
}
