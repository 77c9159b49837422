use async_tasks::{Context, Tasks, async_task};

// Each field that a failed run records (`async_tasks::__private::fields`).
#[async_task(fields(
    error = "none",
    otel.status_code = "OK",
    otel.status_description = "fine",
    panic = false,
))]
async fn sync_users(_ctx: Context) {}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
}
