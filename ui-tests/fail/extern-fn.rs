use async_tasks::{BoxError, Context, Tasks, async_task};

// `BoxError` and `Context` are used only by the signature: the stand-in keeps them used,
// so no "unused import" warning joins the error.
#[async_task]
async extern "C" fn sync_users(_ctx: Context) -> Result<(), BoxError> {
    Ok(())
}

fn main() {
    let tasks = Tasks::new("users");
    tasks.run(&Context::background(), sync_users());
}
