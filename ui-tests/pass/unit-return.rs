//! The `()` form: a body that cannot fail.
#![deny(warnings)]

use std::task::{Poll, Waker};

use async_tasks::{Context, Runner, async_task};

#[async_task(name = "tick")]
async fn tick(_ctx: Context, n: u32) {
    assert_eq!(n, 7);
}

fn main() {
    let runner = tick(7);
    assert_eq!(runner.name(), Some("tick"));
    let mut run = runner.run(Context::background());
    let poll = run
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()));
    assert!(matches!(poll, Poll::Ready(Ok(()))));
}
