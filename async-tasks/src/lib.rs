//! Traced background tasks, pollers, graceful shutdown and a context-aware mutex for
//! [tokio]: the Rust home of Go's [`gobox/pkg/async`], "helper utilities for running async
//! code with proper tracing".
//!
//! When starting background work, use [`run`]:
//!
//! ```
//! use async_tasks::{run, Context, Func};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let ctx = Context::background();
//! // this starts a tokio task, traced in a span of its own
//! run(&ctx, Func::new(|ctx| async move {
//!     // ... do whatever needs to be done ...
//!     // ... just return an error to report it ...
//!     Ok(())
//! }));
//! # async_tasks::default_tasks().wait().await;
//! # }
//! ```
//!
//! If the long-running activity involves fetching from a reader or some other iterative
//! pattern, use [`run_loop`]:
//!
//! ```
//! use std::time::Duration;
//! use async_tasks::{run_loop, sleep, Context, Func};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! # let (ctx, cancel) = Context::background().with_cancel();
//! // this starts a tokio task
//! run_loop(&ctx, Func::new(|ctx| async move {
//!     // ... do whatever ... return an error to end the loop
//!     // ... maybe pause between iterations:
//!     sleep(&ctx, Duration::from_secs(60)).await?;
//!     Ok(())
//! }));
//! # cancel.cancel();
//! # async_tasks::default_tasks().wait().await;
//! # }
//! ```
//!
//! Note: a loop ends when the runner returns an error or panics, or when its context is done.
//!
//! To wait for all tasks to end, use [`Tasks::wait`]; to stop them, [`Tasks::shutdown`].
//! See [`Tasks`] for running tasks on a set of your own rather than on [`default_tasks()`].
//!
//! # What you get
//!
//! | Go (`gobox/pkg/async`) | here |
//! |---|---|
//! | `context.Context` | [`Context`], [`CancelHandle`], [`ContextError`] |
//! | `Runner`, `Closer`, `Func` | [`Runner`], [`Closer`], [`Func`], [`macro@async_task`] |
//! | `Run`, `Loop`, `RunBackground`, `Default` | [`run`], [`run_loop`], [`run_background`], [`default_tasks`] |
//! | `Tasks{Name}`, `Tasks.Wait` | [`Tasks`], [`Tasks::wait`], and [`Tasks::shutdown`] with a grace period |
//! | `RunClose`, `RunGroup` | [`run_close`], [`run_group`] |
//! | `Sleep`, `SleepUntil` | [`sleep`], [`sleep_until`], which also say whether they were cut short |
//! | `MutexWithContext` | [`MutexWithContext`], which holds its data and unlocks on drop |
//! | `RetryableOnce` | [`RetryableOnce`] |
//!
//! Each run of a [`Tasks`] happens in a tracing span named `"task"` whose `otel.name` is the
//! `Tasks`' name; [`macro@async_task`] opens a span per call inside it, as Go's
//! `trace.StartCall` / `trace.EndCall` pair does. Errors (except cancellation) and panics are
//! reported once, as ERROR events in the task's span.
//!
//! # Features
//!
//! - `macros` (default): the [`macro@async_task`] attribute.
//!
//! [tokio]: https://tokio.rs
//! [`gobox/pkg/async`]: https://pkg.go.dev/github.com/getoutreach/gobox/pkg/async
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
mod group;
mod loom;
mod mutex;
mod once;
mod registry;
mod report;
mod runner;
mod sleep;
mod tasks;

#[doc(hidden)]
pub mod __private;

pub use crate::context::{CancelHandle, Context, ContextError};
pub use crate::group::run_group;
pub use crate::mutex::{MutexWithContext, MutexWithContextGuard};
pub use crate::once::RetryableOnce;
pub use crate::runner::{BoxError, Closer, Func, Runner, run_close};
pub use crate::sleep::{sleep, sleep_until};
pub use crate::tasks::{ShutdownTimeout, Tasks, default_tasks, run, run_background, run_loop};

/// Re-exported from [`async-trait`](https://docs.rs/async-trait), to implement [`Runner`]
/// and [`Closer`] without depending on it directly.
pub use async_trait::async_trait;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use async_tasks_macros::async_task;
