use async_tasks::{Context, async_task};

struct Syncer;

impl Syncer {
    #[async_task]
    async fn sync_users(&self, ctx: Context) {
        let _ = ctx;
    }
}

fn main() {
    let _runner = Syncer.sync_users();
}
