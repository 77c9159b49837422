use async_tasks::{Context, Tasks, async_task};

#[derive(Clone, Default)]
struct Syncer;

impl Syncer {
    #[async_task]
    async fn sync_users(self: Box<Self>, _ctx: Context) {
        let _ = self;
    }
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), Box::new(Syncer).sync_users());
}
