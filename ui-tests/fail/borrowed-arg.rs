use std::borrow::Cow;

use async_tasks::{Context, Tasks, async_task};

#[async_task]
async fn sync_users(ctx: Context, table: &str, columns: Vec<&str>, filter: Cow<'_, str>) {
    let _ = (ctx, table, columns, filter);
}

fn main() {
    // The runner outlives `table`: with the real expansion it would borrow it, but the
    // fn stands for one that takes it, and this is no second error.
    let tasks = Tasks::new("users");
    let table = String::from("users");
    tasks.run(
        &Context::background(),
        sync_users(&table, vec![&table], Cow::Borrowed(&table)),
    );
}
