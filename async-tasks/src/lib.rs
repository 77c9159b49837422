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
//! run(&ctx, Func::new(|_ctx| async move {
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
//! Note: a loop ends when the runner returns an error or panics, or when its context is done
//! (or its set closes).
//!
//! To wait for all tasks to end, use [`Tasks::wait`]; to let them finish and stop taking
//! work, [`Tasks::drain`]; to stop them, [`Tasks::shutdown`] or [`Tasks::shutdown_report`].
//! See [`Tasks`] for running tasks on a set of your own rather than on [`default_tasks()`]:
//! sets nest ([`Tasks::child`], [`Tasks::pool`]) into a service's supervision tree, and
//! one-shot work with a result goes to [`Tasks::spawn`], which returns a [`TaskHandle`].
//!
//! # What you get
//!
//! | Go (`gobox/pkg/async`) | here |
//! |---|---|
//! | `context.Context` | [`Context`], [`CancelHandle`](context::CancelHandle), [`ContextError`](context::ContextError) |
//! | `Runner`, `Closer`, `Func` | [`Runner`], [`Closer`], [`Func`], [`macro@async_task`] |
//! | `Run`, `Loop`, `RunBackground`, `Default` | [`run`], [`run_loop`], [`run_background`], [`default_tasks`] |
//! | `Tasks{Name}`, `Tasks.Wait` | [`Tasks`], [`Tasks::wait`], and [`Tasks::shutdown`] with a grace period |
//! | `RunClose`, `RunGroup` | [`run_close`], [`run_group`] |
//! | `Sleep`, `SleepUntil` | [`sleep()`], [`sleep_until`], which also say whether they were cut short |
//! | `MutexWithContext` | [`MutexWithContext`], which holds its data and unlocks on drop |
//! | `RetryableOnce` | [`RetryableOnce`] |
//! | `RetryableOnce` around an async init | [`RetryableOnceCell`](sync::RetryableOnceCell): single-flight, retried after a failure, context-aware waiting, a span per attempt |
//! | `pool` (deprecated) | [`Pool`](pool::Pool): starting waits for a free slot (or, with a [`queue`](pool::Pool::queue), [`try_spawn`](pool::Pool::try_spawn) accepts or refuses at once), and [`Pool::wait`](pool::Pool::wait) returns every error by task name; [`Tasks::pool`] puts it in a set |
//! | a `main` that waits for SIGINT / SIGTERM | [`shutdown_on_signals`] (feature `signal`, on by default): a context canceled by the first signal; a second one exits |
//! | `go func() { ... }()` with a result channel | [`Tasks::spawn`] and its [`TaskHandle`]: a named task that owns what it uses and returns a value, or a [`TaskError`] |
//! | — | a supervision tree: [`Tasks::child`], [`Tasks::drain`] with [`Context::is_closing`], [`Tasks::on_failure`] with [`OnFailure`](task::OnFailure), [`Tasks::shutdown_report`], [`Tasks::snapshot`] |
//!
//! # The API by area
//!
//! The root holds what a Go user of the package reaches for; everything else lives in the
//! module of its area (and so do the root's items):
//!
//! | module | what it is for |
//! |---|---|
//! | [`context`] | cancellation, deadlines and closing: [`Context`], its handles, errors and causes, the futures that wait for it, [`sleep()`] |
//! | [`task`] | sets of tasks: [`Tasks`], loops and their [`LoopPolicy`](task::LoopPolicy), handles, failures and escalation, drain and shutdown reports, snapshots, signals |
//! | [`pool`] | bounded concurrency: [`Pool`](pool::Pool) and its errors |
//! | [`sync`] | locks and one-time initialisation that know about contexts |
//! | [`runner`] | the unit of work: [`Runner`], [`Func`], [`BoxError`], [`run_close`], [`run_group`], and `#[async_trait]` to implement them |
//! | [`lease`] | fleet-wide singletons: leases, their stores and terms |
//! | `testing`, `fmt` | a span recorder for tests, a console formatter (behind their features) |
//!
//! Each run of a [`Tasks`] happens in a tracing span named `"task"` whose `otel.name` is the
//! set's name; [`macro@async_task`] opens a span per call inside it, as Go's
//! `trace.StartCall` / `trace.EndCall` pair does. Errors (except cancellation) and panics are
//! reported once, as an event with the target `async_tasks` that names the task and its set
//! (an ERROR, or a WARN for a failure a loop's policy retries), in the task's span — in the
//! call's span when the runner is an `#[async_task]` fn, so that the call's fields are on
//! the line.
//!
//! # Features
//!
//! - `macros` (default): the [`macro@async_task`] attribute.
//! - `testing`: `testing::SpanRecorder`, Go's `tracetest.NewSpanRecorder()`, to
//!   assert on the spans your tasks record.
//! - `fmt`: `fmt::Fields`, a console field formatter for `tracing-subscriber`'s `fmt` that
//!   leaves out the fields meant for OpenTelemetry.
//! - `metrics`: counts and times every run and every [`macro@async_task`] call through the
//!   [`metrics`](https://docs.rs/metrics) facade, for whichever exporter the program installs
//!   (Prometheus, StatsD, ...). Without the feature none of it is compiled.
//!
//!   | metric | type | labels | meaning |
//!   |---|---|---|---|
//!   | `async_tasks_runs_started_total` | counter | `tasks`, `task` | runs started: one per [`Tasks::run`], [`Tasks::run_background`] or [`Tasks::spawn`], one per [`Tasks::run_loop`] iteration |
//!   | `async_tasks_runs_finished_total` | counter | `tasks`, `task`, `outcome` | runs ended, by `outcome`: `ok`, `error`, `panic`, `canceled` (returned [`ContextError::Canceled`](context::ContextError::Canceled), which is not a failure), or `aborted` (dropped before it ended: aborted at shutdown, or its runtime went away) |
//!   | `async_tasks_run_duration_seconds` | histogram | `tasks`, `task`, `outcome` | how long each run took, from its start to its end |
//!   | `async_tasks_running` | gauge | `tasks`, `task` | tasks running now (a loop counts once); summed over `task`, [`Tasks::running`] |
//!   | `async_tasks_call_duration_seconds` | histogram | `call`, `outcome` | how long each [`macro@async_task`] call took |
//!
//!   `tasks` is the set's path (its name, for a root set), `task` the runner's
//!   [`name`](Runner::name) (the set's name for a runner without one; a spawned task's
//!   name when it is a `&'static str`, else the set's, so that names made per task do not
//!   make a series each), `call` the `#[async_task]` name. A task registers its metrics with
//!   the recorder current where it does so (the gauge where `run*()` is called, the rest on
//!   the thread that runs it), so a test's local recorder
//!   (`metrics::set_default_local_recorder`) sees them all on a current-thread runtime.
//!   Durations are read from tokio's clock, so they follow a paused test clock. Every run
//!   started is counted finished once, `aborted` if its task was dropped first; the gauge
//!   goes down when the task's future is dropped. A call is timed whether or not its span
//!   is enabled.
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
// The examples are code users copy: they compile without a warning.
#![doc(test(attr(deny(warnings))))]

// How the crate is built (for contributors; users need none of it).
//
// One concept per file; imports between them go one way, from the leaves up, and never
// back up through this file's re-exports (`.ci/imports.rs` checks both). Each public module is an area: its file declares and
// re-exports, its directory holds one file per concept.
//
// | file | what it is |
// |---|---|
// | `loom.rs` | the atomics and locks the crate owns (from `loom` under `--cfg async_tasks_loom`), and the one lock helper |
// | `fields.rs` | the name of every span and event field the crate records |
// | `outcome.rs` | how a run ended (`Outcome`, the one judge of an error: `Verdict`), the metric labels, `catch` |
// | `metrics.rs` | the metric hooks (zero-sized without the feature) |
// | `context.rs`, `context/` | `Context`; `cancel.rs` (handles), `done.rs` (the futures that wait), `error.rs` (`ContextError`, `Cause`), `node.rs` (the cancellation tree's node, its invariants and lock order), `sleep.rs` |
// | `runner.rs`, `runner/` | `Runner`, `Closer`, `Func`, `BoxError`, `run_close`; `group.rs` (`run_group`) |
// | `task.rs`, `task/` | `Tasks` and every public method of it (`tasks.rs`), over what a set is made of: `set.rs` (a set's shared state), `listing.rs` (what snapshots and reports name), `start.rs` (the one way a task starts), `supervise.rs` (how one task runs), `current.rs` (the run polled on this thread), `raised.rs` (the panics raised while a run is polled, tied to their payloads), `span.rs` (the one shape of a run's span), `report.rs` (how a run that ended is reported), `looping.rs`, `handle.rs` (`TaskHandle`), `wait.rs`, `shutdown.rs`, `shutdown_report.rs`, `snapshot.rs`, `escalation.rs`, `default.rs`, `policy.rs`, `error_class.rs`, `task_error.rs`, `panic_hook.rs`, `signal.rs`, `singleton.rs`, `probe.rs` (what the reliability tests read) |
// | `call.rs` | the traced call behind `#[async_task]` and `RetryableOnceCell` |
// | `sync.rs`, `sync/` | `mutex.rs`, `once.rs`, `once_cell.rs` |
// | `pool.rs`, `pool/` | `Pool`; `admit.rs` (slots and the checks before a run), `admit_error.rs`, `pool_errors.rs` |
// | `lease.rs`, `lease/` | the lease store trait, terms, the in-process and file stores, and `leader.rs`: a singleton's campaign, renewals and release |
// | `fmt.rs`, `testing.rs` | `fmt::Fields`; `testing::SpanRecorder` |
// | `__private.rs` | what `#[async_task]`'s expansion names: re-exports and thin glue, no stable API |
//
// The public modules are the areas of the API; the root re-exports the Go package's
// surface and the attribute.
mod call;
mod fields;
mod loom;
mod metrics;
mod outcome;

pub mod context;
pub mod lease;
pub mod pool;
pub mod runner;
pub mod sync;
pub mod task;

#[doc(hidden)]
pub mod __private;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "fmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "fmt")))]
pub mod fmt;

pub use crate::context::{Context, sleep, sleep_until};
pub use crate::runner::{BoxError, Closer, Func, Runner, run_close, run_group};
pub use crate::sync::{MutexWithContext, RetryableOnce};
#[cfg(all(feature = "signal", any(unix, windows)))]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
pub use crate::task::shutdown_on_signals;
pub use crate::task::{TaskError, TaskHandle, Tasks, default_tasks, run, run_background, run_loop};

/// Re-exported from [`backon`](https://docs.rs/backon): the backoff builders
/// ([`ExponentialBuilder`](backon::ExponentialBuilder), ...) that [`LoopPolicy::on_error`](task::LoopPolicy::on_error)
/// takes, so that a loop policy needs no other dependency.
pub use backon;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use async_tasks_macros::async_task;
