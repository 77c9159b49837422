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
//! | `pool` (deprecated) | [`Pool`](pool::Pool): starting waits for a free slot, and [`Pool::wait`](pool::Pool::wait) returns every error by task name; [`Tasks::pool`] puts it in a set |
//! | a `main` that waits for SIGINT / SIGTERM | [`shutdown_on_signals`] (feature `signal`, on by default): a context cancelled by the first signal; a second one exits |
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
//! # For contributors: how the crate is built
//!
//! Nothing here is needed to use the crate. One concept per file; imports between them go
//! one way, from the leaves up, and never back up through this file's re-exports
//! (`.ci/imports.rs` checks both). Each public module is an area: its file declares and
//! re-exports, its directory holds one file per concept.
//!
//! | file | what it is |
//! |---|---|
//! | `loom.rs` | the atomics and locks the crate owns (from `loom` under `--cfg async_tasks_loom`), and the one lock helper |
//! | `outcome.rs` | how a run ended (`Outcome`, the one judge of an error: `Verdict`), the failure field names and metric labels, `catch` |
//! | `metrics.rs` | the metric hooks (zero-sized without the feature) |
//! | `context.rs`, `context/` | [`Context`]; `cancel.rs` (handles), `done.rs` (the futures that wait), `error.rs` ([`ContextError`](context::ContextError), [`Cause`](context::Cause)), `node.rs` (the cancellation tree's node, its invariants and lock order), `sleep.rs` |
//! | `runner.rs`, `runner/` | [`Runner`], [`Closer`], [`Func`], [`BoxError`], [`run_close`]; `group.rs` ([`run_group`]) |
//! | `task.rs`, `task/` | [`Tasks`] (`tasks.rs`) and what it is made of: `set.rs` (a set's shared state), `supervise.rs` (how one task runs and is reported), `run.rs` (how it is started), `listing.rs` (what snapshots and reports name), `looping.rs`, `spawn.rs` ([`TaskHandle`]), `shutdown.rs`, `shutdown_report.rs`, `snapshot.rs`, `escalation.rs`, `default.rs`, `policy.rs`, `error_class.rs`, `task_error.rs`, `panic_hook.rs`, `signal.rs` |
//! | `call.rs` | the traced call behind `#[async_task]` and [`RetryableOnceCell`](sync::RetryableOnceCell) |
//! | `sync.rs`, `sync/` | `mutex.rs`, `once.rs`, `once_cell.rs` |
//! | `pool.rs`, `pool/` | [`Pool`](pool::Pool); `admit.rs` (slots and the checks before a run), `admit_error.rs`, `pool_errors.rs` |
//! | `lease.rs`, `lease/` | the lease store trait, terms, stores |
//! | `fmt.rs`, `testing.rs` | `fmt::Fields`; `testing::SpanRecorder` |
//! | `__private.rs` | what `#[async_task]`'s expansion names: re-exports and thin glue, no stable API |
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

// Imports between these go one way: see "For contributors" above. The public modules are
// the areas of the API; the root re-exports the Go package's surface and the attribute.
mod call;
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

/// Turns an `async fn` into a traced [`Runner`]: every run is one span, a "call" as Go's
/// `trace.StartCall` / `trace.EndCall` pair makes, named after the fn (or `name`).
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{async_task, sleep, BoxError, Context, Tasks};
///
/// /// A connection pool: cheap to clone.
/// #[derive(Clone, Default)]
/// struct Db;
///
/// impl Db {
///     async fn sync(&self, batch: usize) -> Result<usize, std::io::Error> {
///         Ok(batch)
///     }
/// }
///
/// /// Syncs one batch of users, then pauses.
/// #[async_task(name = "sync-users", fields(batch))]
/// async fn sync_users(ctx: Context, db: Db, batch: usize) -> Result<(), BoxError> {
///     let synced = db.sync(batch).await?; // errors convert into `BoxError` with `?`
///     println!("synced {synced} users");
///     sleep(&ctx, Duration::from_secs(60)).await?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tasks = Tasks::new("users");
/// let (ctx, cancel) = Context::background().with_cancel();
/// // The fn now builds the runner; the `Tasks` runs it in a span named "sync-users",
/// // inside its own "task" span.
/// tasks.run(&ctx, sync_users(Db, 500));
/// // A loop runs the same runner again and again, with a fresh clone of `db` and `batch`
/// // each time.
/// tasks.run_loop(&ctx, sync_users(Db, 100));
///
/// sleep(&ctx, Duration::from_secs(150)).await.unwrap();
/// cancel.cancel();
/// tasks.wait().await;
/// # }
/// ```
///
/// # What it does
///
/// `async fn NAME(ctx: Context, args...) -> Result<(), E>`, where `E` converts into
/// [`BoxError`] (`anyhow::Error`, `std::io::Error`, `String`, your own error type), or with
/// no return type, becomes `fn NAME(args...)` returning a runner (`impl Runner + Clone`,
/// under a hidden type of its own: see [Calling a task directly](#calling-a-task-directly)).
/// The fn keeps its visibility, doc comments and other attributes, and gets `#[must_use]`.
///
/// - **Arguments** are kept in the runner, and each run gets its own clone of them, so
///   [`Tasks::run_loop`] can run it many times. An argument that is not `Clone` is a compile
///   error at that argument: share it in an [`Arc`](std::sync::Arc). Arguments must own
///   their data (`'static`), and be `Send + Sync`.
/// - **Each run** happens in a span named `NAME` (or `name`), at INFO (or `level`), a child
///   of the span current when the run starts: under a [`Tasks`], its `"task"` span. The span
///   is entered for the whole body, across every `.await`, and closed when the run ends.
/// - **An error** is returned as it is, and recorded on the span as fields: `error` (its
///   `Display`), `otel.status_code = "ERROR"` and `otel.status_description`, which
///   `tracing-opentelemetry` exports as the span's status. No event is emitted: the
///   [`Tasks`] running it reports the error once. An error that is (or wraps)
///   [`ContextError::Canceled`](context::ContextError::Canceled) records nothing, as [`Tasks`] reports nothing for it.
/// - **A panic** is recorded on the span (`panic`, its message, and the status fields), then
///   propagates unchanged; a [`Tasks`] catches and reports it.
/// - **The runner's [`name`](Runner::name)** is the span name, so that
///   [`Tasks::shutdown`] names a runner that does not stop.
///
/// The generated code names everything through `async_tasks`: a crate that uses the
/// attribute needs no `tracing`, `async-trait` or `tokio` dependency of its own for it.
///
/// # Calling a task directly
///
/// The fn takes its arguments but the context, and returns a runner, which takes the
/// context: in a test, or inside another task, call `NAME(args).run(ctx).await`, with
/// [`Runner`] in scope. Written as the fn reads, `sync_users(ctx, db).await` is a compile
/// error that says so ("an `#[async_task]` fn returns a runner, not a future"), next to
/// rustc's own "remove the extra argument".
///
/// ```
/// use async_tasks::{async_task, Context, Runner};
///
/// #[async_task]
/// async fn add_user(_ctx: Context, name: String) -> Result<(), String> {
///     if name.is_empty() {
///         return Err("a user needs a name".to_owned());
///     }
///     Ok(())
/// }
///
/// /// Another task, which runs `add_user` as a step: its span is a child of this one's.
/// #[async_task]
/// async fn onboard(ctx: Context, name: String) -> Result<(), async_tasks::BoxError> {
///     add_user(name).run(ctx).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = add_user(String::new()).run(Context::background()).await.unwrap_err();
/// assert_eq!(err.to_string(), "a user needs a name");
/// assert!(onboard("ada".into()).run(Context::background()).await.is_ok());
/// # }
/// ```
///
/// # Methods
///
/// A method whose receiver is `&self`, `self` (or `mut self`) or `self: Arc<Self>` becomes
/// a method that takes the same receiver and returns a runner. The runner keeps a clone of
/// `Self` (for `&self` and `self`) or the `Arc`, and each run gets a copy of that, as it
/// does of the arguments: `Self` must be `Clone` (reported at the receiver), `Send`, `Sync`
/// and `'static`. A service whose state is behind `Arc`s is cheap to clone; its tasks are
/// then plain `&self` methods. The body uses `self` as in any method (also in format
/// strings and `fields(...)`); what a run changes in its copy is not seen by the next run,
/// which is why `&mut self` is a compile error: keep what changes behind a `Mutex` or an
/// atomic.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use async_tasks::{async_task, Context, Tasks};
///
/// #[derive(Clone, Default)]
/// struct Mailer {
///     sent: Arc<AtomicUsize>,
/// }
///
/// impl Mailer {
///     #[async_task(name = "send-mail", fields(to = %to))]
///     async fn send(&self, _ctx: Context, to: String) {
///         self.sent.fetch_add(1, Ordering::SeqCst);
///     }
///
///     fn start(&self, tasks: &Tasks, ctx: &Context) {
///         tasks.run(ctx, self.send("ada@example.com".into()));
///         tasks.run(ctx, self.send("grace@example.com".into()));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tasks = Tasks::new("mail");
/// let mailer = Mailer::default();
/// mailer.start(&tasks, &Context::background());
/// tasks.wait().await;
/// assert_eq!(mailer.sent.load(Ordering::SeqCst), 2);
/// # }
/// ```
///
/// An associated fn without a receiver is a task too, and may use `Self` in its argument
/// types (`this: Arc<Self>`) and its body. Methods work in inherent impl blocks, generic
/// ones included: the impl's type parameters must then be what the runner needs of `Self`
/// (`impl<T: Clone + Send + Sync + 'static> Store<T>`), which the compiler checks, so there
/// is nothing unsound to allow. Lifetime parameters cannot work (the runner is `'static`),
/// and in a trait impl the generated signature would not be the trait's.
///
/// The runner of a `&self` method owns its clone and is `'static`, but under Rust 2024's
/// capture rules its type still names the borrow of `self`: a fn of yours that returns it
/// as an `impl Runner` that captures no lifetime (`fn poller() -> impl Runner`, made from
/// a local value) does not compile. Return it from a fn that borrows the value, or use a
/// `self` or `self: Arc<Self>` method there.
///
/// # Options
///
/// | Option | Default | |
/// |---|---|---|
/// | `name = "sync-users"` | the fn's name | The span's (and runner's) name: a non-empty string literal. |
/// | `level = "debug"` | `"info"` | The span's level: `"trace"`, `"debug"`, `"info"`, `"warn"` or `"error"` (any case), or `Level::DEBUG`. |
/// | `target = "billing"` | the module path | The span's target, as filters and subscribers see it: a non-empty string literal. |
/// | `fields(key = value, ...)` | none | More span fields, as `#[tracing::instrument]` spells them (below). |
/// | `crate = path` | `::async_tasks` | Where this crate is, when it is renamed or re-exported. |
///
/// `fields(...)` takes `key = value` (a [`tracing::Value`]), `key = %value` (its `Display`),
/// `key = ?value` (its `Debug`), `key` alone (declared empty, to
/// [record](tracing::Span::record) later through [`Span::current`](tracing::Span::current)),
/// or `%name` / `?name` for the argument of that name. Keys may be dotted (`db.name`).
/// Values may use the arguments, `ctx` and `self`; they are evaluated when each run starts.
/// The keys `error`, `otel.status_code`, `otel.status_description` and `panic` are taken.
///
/// ```
/// use async_tasks::{async_task, Context, Runner};
///
/// #[derive(Clone, Debug)]
/// struct Shard {
///     id: u32,
/// }
///
/// #[async_task(name = "compact", level = "debug", fields(shard.id = shard.id, ?shard, removed))]
/// async fn compact(_ctx: Context, shard: Shard, keep: usize) -> Result<(), String> {
///     if keep == 0 {
///         return Err(format!("refusing to remove everything from shard {}", shard.id));
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let runner = compact(Shard { id: 7 }, 0);
/// assert_eq!(runner.name(), Some("compact"));
/// // Run directly, it returns the body's result (as a `BoxError`).
/// let err = runner.run(Context::background()).await.unwrap_err();
/// assert_eq!(err.to_string(), "refusing to remove everything from shard 7");
/// # }
/// ```
///
/// ## Coming from `#[tracing::instrument]`
///
/// | `#[instrument]` | `#[async_task]` |
/// |---|---|
/// | `name = "..."` | `name = "..."`, which also names the runner. |
/// | `level = "..."` | `level = "..."`; INFO by default, as for `#[instrument]`. |
/// | `target = "..."` | `target = "..."`. |
/// | `fields(...)` | `fields(...)`, in the same spelling. |
/// | `skip(...)`, `skip_all` | Not needed: no argument is recorded unless `fields(...)` names it (`#[instrument]` records them all by default). |
/// | `err`, `err(Display)`, `err(Debug)` | Always on: an error is recorded on the span as fields (`error`, the OpenTelemetry status), not as an event, and the [`Tasks`] running the task reports it once. |
/// | `ret` | None: the fn returns `()` or its error, and the error is recorded. |
/// | `parent = ...` | None: a run's span is a child of the span current when the run starts, which under a [`Tasks`] is its `"task"` span. To start from another span, run the task inside it. |
/// | `follows_from = ...` | None: call [`Span::follows_from`](tracing::Span::follows_from) on [`Span::current`](tracing::Span::current) in the body. |
///
/// Each option in the table that `#[async_task]` does not take is a compile error saying the
/// above, rather than "unknown argument".
///
/// # What it becomes
///
/// Near enough (the real expansion goes through `async_tasks`' hidden support module, binds
/// the arguments with your patterns, wraps the runner in the type that makes `.await` on it
/// an error, and keeps your tokens so errors point at them), the first example's
/// `sync_users` is:
///
/// ```
/// use std::pin::pin;
///
/// use async_tasks::{BoxError, Context, Func, Runner};
/// use tracing::field::Empty;
/// use tracing::Instrument;
/// # #[derive(Clone, Default)]
/// # struct Db;
///
/// /// Syncs one batch of users, then pauses.
/// #[must_use = "this only builds the runner: run it with `Tasks::run`, `Tasks::run_loop` or `async_tasks::run`"]
/// fn sync_users(db: Db, batch: usize) -> impl Runner + Clone + 'static {
///     Func::named("sync-users", move |ctx: Context| {
///         // Each run gets its own clone of the arguments (a non-`Clone` one fails to compile).
///         let (db, batch) = (db.clone(), batch);
///         async move {
///             // Made when the run starts, so its parent is the span current then.
///             let span = tracing::span!(
///                 tracing::Level::INFO,
///                 "sync-users",
///                 batch = Empty, // `fields(batch)`
///                 error = Empty,
///                 otel.status_code = Empty,
///                 otel.status_description = Empty,
///                 panic = Empty,
///             );
///             let body = async move {
///                 // ... the body as written, with `ctx`, `db` and `batch` ...
/// #               let _ = (ctx, db, batch);
///                 Ok::<(), BoxError>(())
///             };
///             let mut body = pin!(body.instrument(span));
///             // (A panic in the body is recorded as `panic` and resumed: not shown.)
///             let result = body.as_mut().await.map_err(BoxError::from);
///             if let Err(err) = &result {
///                 // (Unless it is, or wraps, `ContextError::Canceled`.)
///                 let span = body.span();
///                 span.record("error", err.to_string());
///                 span.record("otel.status_code", "ERROR");
///                 span.record("otel.status_description", err.to_string());
///             }
///             result
///         }
///     })
/// }
/// # let _ = sync_users(Db, 1);
/// ```
///
/// A method keeps `self` as one more argument: `&self` becomes `let this = self.clone();`
/// before the `Func`, a clone of `this` for each run, and the body's `self` is that clone
/// (lent to the body for `&self`).
///
/// # Compile errors
///
/// The fn must be an `async fn` whose first argument (after the receiver) is the run's
/// `Context` (by value, any pattern, any path to it: `_ctx: Context`,
/// `ctx: async_tasks::Context`). Each mistake is reported at the tokens that make it, all
/// of them at once:
///
/// - a fn that is not `async`, has no body, or is `const`, `unsafe` or `extern`;
/// - no `Context` first argument;
/// - a receiver other than `&self`, `self` and `self: Arc<Self>` (`&mut self` says why);
/// - generics or a `where` clause on the fn, `impl Trait` arguments, or arguments that
///   borrow (other than `&'static`);
/// - an argument or a `Self` that is not `Clone` (at the argument, at the receiver), or a
///   return type other than `()` or `Result<(), E: Into<BoxError>>` (at the return type);
/// - an unknown or repeated option, a `name` or `target` that is not a non-empty string
///   literal, an unknown level, a reserved or repeated field; the attribute on anything but
///   a fn.
///
/// On such an error the fn is still declared, with the parameters its callers pass
/// (returning a runner that never runs), so that its callers do not add errors of their
/// own.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use async_tasks_macros::async_task;
