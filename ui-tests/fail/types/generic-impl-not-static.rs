use async_tasks::{Context, Tasks, async_task};

#[derive(Clone)]
struct Syncer<Db> {
    db: Db,
}

// `Db` is kept by the runner, which is `'static`: the impl must say `Db: 'static`.
impl<Db: Clone + Send + Sync> Syncer<Db> {
    #[async_task]
    async fn sync_users(&self, _ctx: Context) {
        let _ = &self.db;
    }
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), Syncer { db: 1 }.sync_users());
}
