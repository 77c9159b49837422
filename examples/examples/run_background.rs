//! Port of Go's `ExampleTasks_runBackground`: a task started with `run_background` keeps
//! running with a context of its own when the caller's context is canceled.
//!
//! ```text
//! $ cargo run -p async-tasks-examples --example run_background
//! <nil>
//! Run example
//! ```

use async_tasks::{Context, Func, default_tasks, run_background};
use async_tasks_examples::Output;

async fn example(out: Output) {
    let (ctx_main, cancel) = Context::background().with_cancel();

    run_background(
        &ctx_main,
        Func::new(move |ctx| {
            // The task runs with a context of its own: canceling the one passed to
            // `run_background` does not reach it.
            cancel.cancel();
            let out = out.clone();
            async move {
                // Go prints `ctx.Err()`, which is `<nil>` for a live context.
                out.println(
                    ctx.err()
                        .map_or_else(|| "<nil>".to_owned(), |e| e.to_string()),
                );
                out.println("Run example");
                Ok(())
            }
        }),
    );

    default_tasks().wait().await;
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
        assert_eq!(out.lines(), ["<nil>", "Run example"]);
    }
}
