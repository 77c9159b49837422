//! `Func::err_into` takes closures returning any error that converts into `BoxError`, while
//! `Func::new` keeps inferring `BoxError` for a bare `Ok(())`.
#![deny(warnings)]

use std::task::{Poll, Waker};

use async_tasks::{BoxError, Context, Func, Runner};

fn run_once(runner: &impl Runner) -> Poll<Result<(), BoxError>> {
    let mut run = runner.run(Context::background());
    run.as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()))
}

fn error_of(runner: &impl Runner) -> String {
    match run_once(runner) {
        Poll::Ready(Err(err)) => err.to_string(),
        _ => panic!("expected an error"),
    }
}

async fn read_config() -> std::io::Result<()> {
    Err(std::io::Error::other("no config"))
}

fn main() {
    // No annotation: `Ok(())` is a `Result<(), BoxError>`.
    let plain = Func::new(|_ctx| async { Ok(()) });
    assert!(matches!(run_once(&plain), Poll::Ready(Ok(()))));

    let anyhow = Func::err_into(|_ctx| async { anyhow::bail!("upstream returned 503") });
    assert_eq!(error_of(&anyhow), "upstream returned 503");
    let io = Func::err_into(|_ctx| read_config());
    assert_eq!(error_of(&io), "no config");
    let string = Func::named_err_into("fetch", |_ctx| async {
        Err::<(), String>("fetch failed".to_owned())
    });
    assert_eq!(string.name(), Some("fetch"));
    assert_eq!(error_of(&string), "fetch failed");
    // Clone when the closure is.
    let _ = anyhow.clone();
}
