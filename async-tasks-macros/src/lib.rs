//! The `#[async_task]` attribute of [async-tasks](https://docs.rs/async-tasks): turns an
//! `async fn` into a traced `Runner`.
//!
//! Use it through `async_tasks::async_task`, whose documentation describes it; this crate
//! is an implementation detail and is versioned in lockstep with `async-tasks`.
//!
//! How it is built, as [`async_task`] runs it: `attr.rs` parses the attribute's arguments,
//! `item.rs` the function, `valid.rs` checks the function's shape (`receiver.rs` knows the
//! accepted receivers); then `expand.rs` generates the code of a valid fn, or `fallback.rs`
//! what stands in for a broken one next to its errors. Parsing and checking report every
//! mistake (all of them, not only the first) as a `syn::Error` on the narrowest token and
//! never emit tokens; expansion and the fallback report nothing. Imports go one way: `item`,
//! `receiver` and `error` import nothing of this crate's, `attr` only `error`, `valid` those,
//! `expand` and `fallback` what they read, and this file all of them (`.ci/imports.rs` checks
//! it, as it checks the runtime crate).
//!
//! The tests that trybuild cannot run are in `tests/`: the fuzzing of the whole attribute,
//! the shape of the expansion and of the stub.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
// The examples are code users copy: they compile without a warning.
#![doc(test(attr(deny(warnings))))]

mod attr;
mod error;
mod expand;
mod fallback;
mod item;
mod receiver;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro2::TokenStream;

use crate::error::Errors;
use crate::item::ItemFn;
use crate::valid::Checked;

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
///   [`ContextError::Canceled`] or [`StopLoop`] records nothing, as [`Tasks`] reports nothing
///   for it: neither is a failure.
/// - **A panic** is recorded on the span (`panic`, its message, and the status fields), then
///   propagates unchanged; a [`Tasks`] catches and reports it.
/// - **The runner's [`name`][`Runner::name`]** is the span name, so that
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
/// [record][`Span::record`] later through [`Span::current`]),
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
/// | `follows_from = ...` | None: call [`Span::follows_from`] on [`Span::current`] in the body. |
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
///
/// [`Runner`]: ../async_tasks/runner/trait.Runner.html
/// [`Runner::name`]: ../async_tasks/runner/trait.Runner.html#method.name
/// [`BoxError`]: ../async_tasks/runner/type.BoxError.html
/// [`Tasks`]: ../async_tasks/task/struct.Tasks.html
/// [`Tasks::run_loop`]: ../async_tasks/task/struct.Tasks.html#method.run_loop
/// [`Tasks::shutdown`]: ../async_tasks/task/struct.Tasks.html#method.shutdown
/// [`ContextError::Canceled`]: ../async_tasks/context/enum.ContextError.html#variant.Canceled
/// [`StopLoop`]: ../async_tasks/task/struct.StopLoop.html
/// [`tracing::Value`]: https://docs.rs/tracing/0.1/tracing/trait.Value.html
/// [`Span::current`]: https://docs.rs/tracing/0.1/tracing/struct.Span.html#method.current
/// [`Span::follows_from`]: https://docs.rs/tracing/0.1/tracing/struct.Span.html#method.follows_from
/// [`Span::record`]: https://docs.rs/tracing/0.1/tracing/struct.Span.html#method.record
///
/// Defined in `async-tasks-macros`; use it as `async_tasks::async_task`, with a dependency
/// on `async-tasks` alone (the code it generates names that crate).
#[proc_macro_attribute]
pub fn async_task(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    attribute(args.into(), item.into()).into()
}

/// The whole of `#[async_task(args)] item`, from tokens to tokens: parse the arguments,
/// parse the item, check it, then expand it, or emit the fallback next to every error.
fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, args_error) = attr::parse(args);
    let mut errors = Errors::default();
    errors.extend(args_error);
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(err) => {
            // Not a function: leave the item as it is, so that only this error shows.
            errors.push(err);
            return with_errors(item, errors);
        }
    };
    let tokens = match valid::check(item_fn) {
        Checked::Valid(task) => expand::runner(&args, *task),
        Checked::Invalid(err, broken) => {
            errors.push(err);
            fallback::stub(&args.krate(), *broken)
        }
    };
    with_errors(tokens, errors)
}

/// `tokens`, followed by a `compile_error!` for each error.
fn with_errors(mut tokens: TokenStream, errors: Errors) -> TokenStream {
    if let Some(err) = errors.into_error() {
        tokens.extend(err.into_compile_error());
    }
    tokens
}
