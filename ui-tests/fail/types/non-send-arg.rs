use std::rc::Rc;

use async_tasks::{Context, async_task};

#[async_task]
async fn sync_users(_ctx: Context, batch: Rc<usize>) {
    let _ = batch;
}

fn main() {
    let _runner = sync_users(Rc::new(500));
}
