use async_tasks::{Context, async_task};

#[async_task(fields(error = "none", otel.status_code = "OK"))]
async fn sync_users(_ctx: Context) {}

fn main() {}
