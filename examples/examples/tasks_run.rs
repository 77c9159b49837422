//! Port of Go's `ExampleTasks_run`: run one task on a `Tasks`, then wait for it.
//!
//! ```text
//! $ cargo run -p async-tasks-examples --example tasks_run
//! Run example
//! ```

use async_tasks::{Context, Func, Tasks};
use async_tasks_examples::Output;

async fn example(out: Output) {
    let (ctx, cancel) = Context::background().with_cancel();

    let tasks = Tasks::new("example");
    tasks.run(
        &ctx,
        Func::new(move |_ctx| {
            let out = out.clone();
            async move {
                out.println("Run example");
                Ok(())
            }
        }),
    );

    cancel.cancel();
    tasks.wait().await;
}

#[tokio::main]
async fn main() {
    example(Output::stdout()).await;
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn prints_what_go_prints() {
        let out = super::Output::capture();
        super::example(out.clone()).await;
        assert_eq!(out.lines(), ["Run example"]);
    }
}
