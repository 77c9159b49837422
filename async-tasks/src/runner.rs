//! The unit of work: [`Runner`] (and [`Closer`], for what must be cleaned up), what
//! [`Tasks`](crate::task::Tasks) runs; [`Func`], a closure as a runner; [`BoxError`], what a
//! runner returns; and Go's helpers over runners: [`run_close`] and [`run_group`].
//!
//! A type implements [`Runner`] with `#[async_trait]`, re-exported here so that it needs no
//! dependency of its own; an `async fn` becomes one with
//! [`#[async_task]`](macro@crate::async_task).

mod group;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::context::Context;

pub use self::group::{RunGroupFailed, run_group};

/// Re-exported from [`async-trait`](https://docs.rs/async-trait), to implement [`Runner`],
/// [`Closer`] and [`LeaseStore`](crate::lease::LeaseStore) without depending on it directly.
pub use async_trait::async_trait;

/// The attribute that turns an `async fn` into a runner: see
/// [`async_tasks::async_task`](macro@crate::async_task).
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(no_inline)]
pub use async_tasks_macros::async_task;

/// The error a [`Runner`] returns: any error that can cross threads.
///
/// `anyhow::Error`, `std::io::Error` and your own error types all convert into it with `?`
/// or `.into()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A piece of async work that takes a [`Context`]: what [`Tasks`](crate::task::Tasks) runs.
///
/// Go's `async.Runner`. Implement it with `#[async_trait]` (re-exported as
/// [`async_tasks::runner::async_trait`](macro@async_trait)), wrap a closure in [`Func`], or let
/// [`#[async_task]`](crate::async_task) write it for an `async fn`.
///
/// `run` takes `&self` so that a runner can run many times: [`Tasks::run_loop`] calls it
/// once per iteration.
///
/// [`Tasks::run_loop`]: crate::task::Tasks::run_loop
///
/// A closure is not a runner: wrap it in [`Func::new`] (or [`Func::err_into`], for a closure
/// whose error is not a [`BoxError`]). Passing one where a runner is expected is a compile
/// error that says so.
///
/// # Examples
///
/// ```
/// use async_tasks::{BoxError, Context, Runner};
/// use async_tasks::runner::async_trait;
///
/// struct Poller {
///     queue: String,
/// }
///
/// #[async_trait]
/// impl Runner for Poller {
///     async fn run(&self, ctx: Context) -> Result<(), BoxError> {
///         if ctx.is_done() {
///             return Ok(());
///         }
///         println!("polling {}", self.queue);
///         Ok(())
///     }
///
///     fn name(&self) -> Option<&'static str> {
///         Some("poller")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let poller = Poller { queue: "jobs".into() };
/// poller.run(Context::background()).await.unwrap();
/// # }
/// ```
#[async_trait::async_trait]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Runner`",
    label = "not a runner",
    note = "closures are not runners, wrap it in `Func::new(..)` (or in `Func::err_into(..)` \
            when its error is not a `BoxError`)",
    note = "an `#[async_task]` fn returns a runner when called with its arguments but the \
            `Context`: `sync_users(db)`, not `sync_users`"
)]
pub trait Runner: Send + Sync {
    /// Does the work once. An error other than [`ContextError::Canceled`] is reported by the
    /// [`Tasks`](crate::task::Tasks) that runs it.
    ///
    /// [`ContextError::Canceled`]: crate::context::ContextError::Canceled
    async fn run(&self, ctx: Context) -> Result<(), BoxError>;

    /// This runner's [`Closer`], if it has one: what [`run_close`] and
    /// [`run_group`] call to clean up. Replaces Go's type switch.
    fn as_closer(&self) -> Option<&dyn Closer> {
        None
    }

    /// A name for this runner in shutdown reports, or `None` to use the
    /// [`Tasks`](crate::task::Tasks)' name. `#[async_task]` runners return their span name.
    fn name(&self) -> Option<&'static str> {
        None
    }
}

/// Cleanup for a [`Runner`]: closes what it holds.
///
/// Return it from [`Runner::as_closer`]; [`run_close`] and [`run_group`]
/// call it.
///
/// # Examples
///
/// ```
/// use async_tasks::{run_close, BoxError, Closer, Context, Runner};
/// use async_tasks::runner::async_trait;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// #[derive(Default)]
/// struct Conn {
///     closed: AtomicBool,
/// }
///
/// #[async_trait]
/// impl Runner for Conn {
///     async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
///         Ok(())
///     }
///     fn as_closer(&self) -> Option<&dyn Closer> {
///         Some(self)
///     }
/// }
///
/// #[async_trait]
/// impl Closer for Conn {
///     async fn close(&self, _ctx: Context) -> Result<(), BoxError> {
///         self.closed.store(true, Ordering::SeqCst);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let conn = Conn::default();
/// run_close(&Context::background(), &conn).await.unwrap();
/// assert!(conn.closed.load(Ordering::SeqCst));
/// # }
/// ```
#[async_trait::async_trait]
pub trait Closer: Send + Sync {
    /// Releases what the runner holds. `ctx` bounds how long cleanup may take.
    async fn close(&self, ctx: Context) -> Result<(), BoxError>;
}

/// Closes `runner` if it has a [`Closer`], and does nothing (`Ok(())`) otherwise.
///
/// Go's `async.RunClose`.
///
/// # Cancel safety
///
/// As cancel safe as the runner's `close`: dropping this future drops the close call.
///
/// # Errors
///
/// Whatever the runner's [`Closer::close`] returns.
///
/// # Examples
///
/// ```
/// use async_tasks::{run_close, Context, Func};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A `Func` has no closer, so there is nothing to close.
/// let runner = Func::new(|_ctx| async { Ok(()) });
/// assert!(run_close(&Context::background(), &runner).await.is_ok());
/// # }
/// ```
pub async fn run_close<R: Runner + ?Sized>(ctx: &Context, runner: &R) -> Result<(), BoxError> {
    match runner.as_closer() {
        Some(closer) => closer.close(ctx.clone()).await,
        None => Ok(()),
    }
}

/// A [`Runner`] made from a closure that returns a future, as Go's `async.Func`.
///
/// The closure is called once per run with that run's [`Context`], and its future is the run.
/// [`Func::new`] takes a closure whose future returns `Result<(), BoxError>`, so that
/// `Ok(())` and `?` need no type annotations; [`Func::err_into`] takes one that returns any
/// error converting into [`BoxError`] (`anyhow::Error`, `std::io::Error`, `String`, ...).
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func, Tasks};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tasks = Tasks::new("example");
/// tasks.run(
///     &Context::background(),
///     Func::new(|_ctx| async {
///         println!("Run example");
///         Ok(())
///     }),
/// );
/// tasks.wait().await;
/// # }
/// ```
#[derive(Clone)]
pub struct Func<F> {
    f: F,
    name: Option<&'static str>,
}

/// What the future of a [`Func::new`] (or [`Func::named`]) closure returns:
/// `Result<(), BoxError>`, and nothing else. A bound of its own beside the output's type
/// (which keeps inferring `Ok(())`'s error, and lets a body that only panics compile), so
/// that a closure that returns another error is also told to use [`Func::err_into`].
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a `Func::new` closure returns `Result<(), BoxError>`, not `{Self}`",
    label = "this closure's future returns `{Self}`",
    note = "for a closure whose error is another type (`anyhow::Error`, `std::io::Error`, \
            `String`, your own error), use `Func::err_into(..)` (or `Func::named_err_into(..)`), \
            which converts it into a `BoxError` as each run ends"
)]
pub trait FuncResult {}

impl FuncResult for Result<(), BoxError> {}

/// The closure of a [`Func`] made by [`Func::err_into`], whose error is converted into a
/// [`BoxError`] at the end of each run.
///
/// A type of its own (rather than a second closure around the first) so that the runner is
/// `Clone` exactly when the closure is, as [`Func::new`]'s is, and so that [`Func::new`]'s
/// runs keep their one allocation and no conversion.
#[derive(Clone)]
pub struct ErrInto<F>(F);

impl<F> Func<F> {
    /// Wraps `f`, which is called once per run with that run's [`Context`].
    ///
    /// The bounds are here, not only on the `Runner` impl, so that closure arguments and
    /// `Ok(())` need no type annotations. For a closure whose error is not a [`BoxError`],
    /// use [`Func::err_into`].
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Runner};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let runner = Func::new(|ctx| async move {
    ///     if ctx.is_done() {
    ///         return Err("stopped before it started".into());
    ///     }
    ///     Ok(())
    /// });
    /// assert!(runner.run(Context::background()).await.is_ok());
    /// # }
    /// ```
    #[must_use]
    pub const fn new<Fut>(f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
        Fut::Output: FuncResult,
    {
        Func { f, name: None }
    }

    /// Wraps `f` and gives the runner a [name](Runner::name) for shutdown reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Func, Runner};
    ///
    /// let runner = Func::named("heartbeat", |_ctx| async { Ok(()) });
    /// assert_eq!(runner.name(), Some("heartbeat"));
    /// ```
    #[must_use]
    pub const fn named<Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
        Fut::Output: FuncResult,
    {
        Func {
            f,
            name: Some(name),
        }
    }
}

impl<F> Func<ErrInto<F>> {
    /// Wraps `f`, whose future may return any error that converts into a [`BoxError`]:
    /// `anyhow::Error`, `std::io::Error`, `String`, your own error type. Each run's error is
    /// converted as it ends.
    ///
    /// A constructor of its own because the error type must come from the closure: with
    /// [`Func::new`]'s, an unannotated `Ok(())` could be of any `Result<(), E>`, so `new`
    /// fixes `E` to [`BoxError`]. Here the closure must name its error, by returning a value
    /// of that type (`anyhow::bail!`, a call's result) or with a `::<>` on `Ok`.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Runner};
    ///
    /// async fn read_config() -> std::io::Result<()> {
    ///     Err(std::io::Error::other("no config"))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // The future's output is `std::io::Result<()>`, as `read_config` returns it.
    /// let runner = Func::err_into(|_ctx| read_config());
    /// let err = runner.run(Context::background()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "no config");
    /// # }
    /// ```
    #[must_use]
    pub const fn err_into<Fut, E>(f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Func {
            f: ErrInto(f),
            name: None,
        }
    }

    /// [`Func::err_into`], with a [name](Runner::name) for shutdown reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Runner};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let runner = Func::named_err_into("fetch", |_ctx| async {
    ///     Err::<(), String>("upstream returned 503".to_owned())
    /// });
    /// assert_eq!(runner.name(), Some("fetch"));
    /// let err = runner.run(Context::background()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "upstream returned 503");
    /// # }
    /// ```
    #[must_use]
    pub const fn named_err_into<Fut, E>(name: &'static str, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Func {
            f: ErrInto(f),
            name: Some(name),
        }
    }
}

impl<F> fmt::Debug for Func<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for ErrInto<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrInto").finish_non_exhaustive()
    }
}

impl<F, Fut> Runner for Func<F>
where
    F: Fn(Context) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    // Written out rather than with `#[async_trait]`: the closure's future is boxed as it
    // is, without a second state machine around it.
    fn run<'life0, 'async_trait>(
        &'life0 self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin((self.f)(ctx))
    }

    fn name(&self) -> Option<&'static str> {
        self.name
    }
}

// No overlap with the impl above: `ErrInto` is not a closure (`Fn` is `#[fundamental]`, so
// the compiler knows that this crate's type implements no `Fn`).
impl<F, Fut, E> Runner for Func<ErrInto<F>>
where
    F: Fn(Context) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn run<'life0, 'async_trait>(
        &'life0 self,
        ctx: Context,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        // Called now, as `Func::new`'s closure is: the run starts when `run` is called.
        let run = (self.f.0)(ctx);
        Box::pin(async move { run.await.map_err(Into::into) })
    }

    fn name(&self) -> Option<&'static str> {
        self.name
    }
}

/// `impl Runner` for a type that forwards `run`, `as_closer` and `name` to the runner it
/// holds (`|this| &this.inner`, a reference to it): the run's future is the inner runner's, as it is, with no
/// state machine around it. Used for the smart pointers below, a pool's admitted runner and
/// the type an `#[async_task]` fn returns.
macro_rules! forward_runner {
    ($(#[$attr:meta])* impl[$($generics:tt)*] $ty:ty, |$this:ident| $inner:expr) => {
        $(#[$attr])*
        impl<$($generics)*> $crate::runner::Runner for $ty {
            #[inline]
            fn run<'life0, 'async_trait>(
                &'life0 self,
                ctx: $crate::context::Context,
            ) -> ::std::pin::Pin<
                ::std::boxed::Box<
                    dyn ::std::future::Future<Output = Result<(), $crate::runner::BoxError>>
                        + Send
                        + 'async_trait,
                >,
            >
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                let $this = self;
                $crate::runner::Runner::run($inner, ctx)
            }

            #[inline]
            fn as_closer(&self) -> Option<&dyn $crate::runner::Closer> {
                let $this = self;
                $crate::runner::Runner::as_closer($inner)
            }

            #[inline]
            fn name(&self) -> Option<&'static str> {
                let $this = self;
                $crate::runner::Runner::name($inner)
            }
        }
    };
}
pub(crate) use forward_runner;

// `do_not_recommend`: a type that is not a runner is reported as such, not as "`&T` needs
// `T: Runner`", and these impls stay out of the "other types implement `Runner`" list.
forward_runner!(#[diagnostic::do_not_recommend] impl[R: Runner + ?Sized] Box<R>, |this| &**this);
forward_runner!(#[diagnostic::do_not_recommend] impl[R: Runner + ?Sized] Arc<R>, |this| &**this);
forward_runner!(#[diagnostic::do_not_recommend] impl[R: Runner + ?Sized] &R, |this| *this);

#[cfg(test)]
mod tests {
    use super::*;

    struct WithCloser;

    #[async_trait::async_trait]
    impl Runner for WithCloser {
        async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
            Ok(())
        }
        fn as_closer(&self) -> Option<&dyn Closer> {
            Some(self)
        }
        fn name(&self) -> Option<&'static str> {
            Some("with-closer")
        }
    }

    #[async_trait::async_trait]
    impl Closer for WithCloser {
        async fn close(&self, _ctx: Context) -> Result<(), BoxError> {
            Err("closed".into())
        }
    }

    #[tokio::test]
    async fn wrappers_forward_run_closer_and_name() {
        static STATIC: WithCloser = WithCloser;
        let boxed: Box<dyn Runner> = Box::new(WithCloser);
        let arc = Arc::new(WithCloser);
        let ctx = Context::background();
        for runner in [&boxed as &dyn Runner, &arc, &&STATIC] {
            assert!(runner.run(ctx.clone()).await.is_ok());
            assert_eq!(runner.name(), Some("with-closer"));
            let err = run_close(&ctx, runner).await.unwrap_err();
            assert_eq!(err.to_string(), "closed");
        }
    }
}
