//! Bodies as in any `async fn`: `?` converting errors, early `return`, inner attributes, a
//! body that never returns, `BoxError` and `String` errors, return types behind aliases.
#![deny(warnings)]

use std::task::{Poll, Waker};

use async_tasks::{BoxError, Context, Runner, async_task, sleep};

type TaskResult = Result<(), std::io::Error>;

#[async_task]
async fn question_mark(_ctx: Context, text: String) -> Result<(), BoxError> {
    #![allow(clippy::needless_return)]
    let n: u8 = text.parse()?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(())
}

/// The body's inner attributes apply to the whole fn: without it, `unused` is a warning.
#[async_task]
async fn inner_attribute(_ctx: Context) {
    #![allow(unused_variables)]
    let unused = 1;
}

#[async_task]
async fn string_error(_ctx: Context) -> Result<(), String> {
    Err("nope".to_owned())
}

#[async_task]
async fn alias(_ctx: Context) -> TaskResult {
    Ok(())
}

#[async_task]
async fn explicit_unit(_ctx: Context) -> () {}

#[async_task]
async fn forever(ctx: Context) -> Result<(), BoxError> {
    loop {
        sleep(&ctx, std::time::Duration::from_secs(1)).await?;
    }
}

fn poll_once(runner: &impl Runner) -> Poll<Result<(), BoxError>> {
    let mut run = runner.run(Context::background());
    run.as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()))
}

fn main() {
    assert!(matches!(
        poll_once(&question_mark("7".into())),
        Poll::Ready(Ok(()))
    ));
    match poll_once(&question_mark("x".into())) {
        Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "invalid digit found in string"),
        _ => panic!("expected the parse error"),
    }
    match poll_once(&question_mark("0".into())) {
        Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "zero"),
        _ => panic!("expected the early return"),
    }
    match poll_once(&string_error()) {
        Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "nope"),
        _ => panic!("expected the string error"),
    }
    assert!(matches!(poll_once(&alias()), Poll::Ready(Ok(()))));
    assert!(matches!(poll_once(&explicit_unit()), Poll::Ready(Ok(()))));
    assert!(matches!(poll_once(&inner_attribute()), Poll::Ready(Ok(()))));
    let _ = forever();
}
