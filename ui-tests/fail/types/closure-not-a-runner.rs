use async_tasks::{Context, Tasks};

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), |_ctx: Context| async { Ok(()) });
}
