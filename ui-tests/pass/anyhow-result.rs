//! `anyhow::Result<()>`: the error converts into `BoxError` and keeps its message.
#![deny(warnings)]

use std::task::{Poll, Waker};

use async_tasks::{Context, Runner, async_task};

#[async_task]
async fn fetch(_ctx: Context, url: String) -> anyhow::Result<()> {
    let port: u16 = url.parse()?;
    anyhow::ensure!(port > 0, "port 0 in `{url}`");
    Ok(())
}

fn main() {
    let runner = fetch("0".to_owned());
    let mut run = runner.run(Context::background());
    let poll = run
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()));
    match poll {
        Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "port 0 in `0`"),
        _ => panic!("expected the body's error"),
    }
}
