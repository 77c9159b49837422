//! `shutdown_on_signals` with real signals, sent by `kill` to this very process.
//!
//! A test binary of its own, because a signal goes to the whole process: sent from a test
//! in a shared binary, it would reach every test running beside it, and before tokio's
//! handler is installed its default action would kill them all. Here the handler is
//! installed (by `shutdown_on_signals`, before it returns) before any signal is sent, and
//! the only other test sends its signals to a child process.
//!
//! Covers:
//! - a real SIGTERM cancels the returned context (and does not kill the process);
//! - a second real SIGTERM exits the process with 143: checked on a child process that is
//!   this test binary re-run for that one test.
//!
//! The policy itself (which signal, which code, the log events) is unit-tested with
//! channels in `async-tasks/src/signal.rs`. The waits here are bounded by real-time
//! timeouts: a signal is delivered by the OS, not by tokio's clock.
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::shutdown_on_signals;
use tokio::time::timeout;

/// Set in the child process that `a_second_sigterm_exits_with_143` starts.
const CHILD: &str = "ASYNC_TASKS_SIGNAL_TEST_CHILD";
const LIMIT: Duration = Duration::from_secs(30);

/// Sends SIGTERM to this process with the `kill` utility.
fn sigterm_self() {
    let status = Command::new("kill")
        .args(["-s", "TERM", &std::process::id().to_string()])
        .status()
        .expect("cannot run `kill`");
    assert!(status.success(), "`kill` failed: {status}");
}

#[tokio::test]
async fn a_real_sigterm_cancels_the_context() {
    if std::env::var_os(CHILD).is_some() {
        return; // the child runs only the other test
    }
    let ctx = shutdown_on_signals();
    assert!(!ctx.is_done());
    sigterm_self();
    timeout(LIMIT, ctx.done())
        .await
        .expect("the SIGTERM did not cancel the context");
    assert_eq!(ctx.err(), Some(ContextError::Canceled));
}

#[tokio::test]
async fn a_second_sigterm_exits_with_143() {
    if std::env::var_os(CHILD).is_some() {
        // In the child: the first signal cancels, the second exits the process.
        let ctx = shutdown_on_signals();
        sigterm_self();
        timeout(LIMIT, ctx.done())
            .await
            .expect("the first SIGTERM did not cancel the context");
        sigterm_self();
        tokio::time::sleep(LIMIT).await;
        panic!("the second SIGTERM did not exit the process");
    }
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "a_second_sigterm_exits_with_143",
            "--test-threads=1",
        ])
        .env(CHILD, "1");
    // The child ends by itself within `LIMIT` (its own timeout panics), so the blocking wait
    // is bounded even if the timeout here gives up on it.
    let output = timeout(
        2 * LIMIT,
        tokio::task::spawn_blocking(move || child.output()),
    )
    .await
    .expect("the child did not exit")
    .unwrap()
    .expect("cannot run the child");
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
