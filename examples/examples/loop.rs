//! Port of Go's `ExampleLoop`: `run_loop` on the default `Tasks` counts to three, then
//! parks until its context is canceled.
//!
//! ```text
//! $ cargo run -p async-tasks-examples --example loop
//! count 1
//! count 2
//! count 3
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::{Context, Func, default_tasks, run_loop};
use async_tasks_examples::Output;

async fn example(out: Output) {
    let (ctx, cancel) = Context::background().with_cancel();

    let count = Arc::new(AtomicUsize::new(0));
    run_loop(
        &ctx,
        Func::new(move |ctx| {
            let (out, count) = (out.clone(), Arc::clone(&count));
            async move {
                if count.load(Ordering::SeqCst) < 3 {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    out.println(format_args!("count {n}"));
                } else {
                    ctx.done().await;
                }
                Ok(())
            }
        }),
    );

    // Go's `time.Sleep(5ms)`.
    tokio::time::sleep(Duration::from_millis(5)).await;
    cancel.cancel();
    default_tasks().wait().await;
}

#[tokio::main]
async fn main() {
    example(Output::stdout()).await;
}

#[cfg(test)]
mod tests {
    #[tokio::test(start_paused = true)]
    async fn prints_what_go_prints() {
        let out = super::Output::capture();
        super::example(out.clone()).await;
        assert_eq!(out.lines(), ["count 1", "count 2", "count 3"]);
    }
}
