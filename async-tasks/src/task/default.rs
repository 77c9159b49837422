//! [`default_tasks()`] and the free functions that run on it, Go's
//! `async.Default`, `async.Run`, `async.Loop` and `async.RunBackground`.

use std::sync::LazyLock;

use super::tasks::Tasks;
use crate::context::Context;
use crate::runner::Runner;

/// The default [`Tasks`], named `"async.run"`, used by [`run`], [`run_loop`] and
/// [`run_background`], as Go's `async.Default`.
///
/// Created on first use; needs no runtime. Its tasks are spawned on the runtime current at
/// each call, so it serves several runtimes (each test's, for example).
///
/// # Examples
///
/// ```
/// assert_eq!(async_tasks::default_tasks().name(), "async.run");
/// ```
#[must_use]
pub fn default_tasks() -> &'static Tasks {
    static DEFAULT: LazyLock<Tasks> = LazyLock::new(|| Tasks::new("async.run"));
    &DEFAULT
}

/// Runs `runner` once on [`default_tasks()`]: see [`Tasks::run`]. Go's
/// `async.Run`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// run(&Context::background(), Func::new(|_ctx| async {
///     println!("Run example");
///     Ok(())
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run(ctx, runner);
}

/// Runs `runner` in a loop on [`default_tasks()`]: see [`Tasks::run_loop`]. Go's
/// `async.Loop`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run_loop, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (ctx, cancel) = Context::background().with_cancel();
/// run_loop(&ctx, Func::new(move |_ctx| {
///     cancel.cancel(); // stop after this iteration
///     async { Ok(()) }
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run_loop<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run_loop(ctx, runner);
}

/// Runs `runner` once on [`default_tasks()`], detached from `ctx`: see
/// [`Tasks::run_background`]. Go's `async.RunBackground`.
///
/// # Panics
///
/// Panics if called outside a tokio runtime.
///
/// # Examples
///
/// ```
/// use async_tasks::{default_tasks, run_background, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// run_background(&Context::background(), Func::new(|ctx| async move {
///     assert!(ctx.deadline().is_none());
///     Ok(())
/// }));
/// default_tasks().wait().await;
/// # }
/// ```
#[track_caller]
pub fn run_background<R: Runner + 'static>(ctx: &Context, runner: R) {
    default_tasks().run_background(ctx, runner);
}
