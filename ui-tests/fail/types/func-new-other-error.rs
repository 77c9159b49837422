//! `Func::new` given a closure whose error is not a `BoxError`: the error points at
//! `Func::err_into`.

use async_tasks::{Context, Func, Tasks};

fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), Func::new(|_ctx| async { fetch() }));
}
