//! A spawned closure whose error does not convert into a `BoxError`: rustc names the bound
//! as `Tasks::spawn`'s, the method users call (not a method of a child module).

use async_tasks::{Context, Tasks};

#[derive(Debug)]
struct NotAnError;

fn main() {
    let tasks = Tasks::new("svc");
    let _handle = tasks.spawn(&Context::background(), "job", |_ctx| async {
        Err::<(), _>(NotAnError)
    });
}
