//! Unit tests of `Tasks` that need its internals.
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::*;
use crate::context::Context;
use crate::runner::Func;
use std::time::Duration;

#[tokio::test]
async fn wait_from_inside_its_own_task_panics_instead_of_hanging() {
    let tasks = Tasks::new("self-waiter");
    let other = Tasks::new("other");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (inner, outer) = (tasks.clone(), other.clone());
    tasks.run(
        &Context::background(),
        Func::new(move |_ctx| {
            let (inner, outer, tx) = (inner.clone(), outer.clone(), tx.clone());
            async move {
                // Waiting on another set from inside a task is fine.
                outer.wait().await;
                let waited = AssertUnwindSafe(inner.wait()).catch_unwind().await;
                let message = waited
                    .err()
                    .and_then(|p| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tx.send(message)?;
                Ok(())
            }
        }),
    );
    let message = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the task must not hang")
        .expect("the task reports back");
    assert!(
        message.contains(
            "`Tasks::wait` was called from inside a task of the same `Tasks` (`self-waiter`)"
        ),
        "{message}"
    );
    tasks.wait().await;
}
