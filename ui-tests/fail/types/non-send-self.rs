use std::rc::Rc;

use async_tasks::{Context, Tasks, async_task};

#[derive(Clone)]
struct Syncer {
    cache: Rc<Vec<String>>,
}

impl Syncer {
    #[async_task]
    async fn sync_users(&self, _ctx: Context) {
        let _ = self.cache.len();
    }
}

fn main() {
    let tasks = Tasks::new("users");
    let syncer = Syncer { cache: Rc::default() };
    tasks.run(&Context::background(), syncer.sync_users());
}
