use async_tasks::{Context, async_task};

#[derive(Clone)]
struct Users;

impl Users {
    #[async_task]
    async fn add(&self, ctx: Context, name: String) {
        let _ = (self, ctx, name);
    }
}

// The method called as it reads. The fix is `users.add(name).run(ctx)`.
async fn handler(users: Users, ctx: Context) {
    users.add(ctx, "ada".into()).await;
}

fn main() {
    let _ = handler(Users, Context::background());
}
