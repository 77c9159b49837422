//! [`Runner`], [`Closer`] and [`Func`]: the unit of work that [`Tasks`](crate::Tasks) runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::Context;

/// The error a [`Runner`] returns: any error that can cross threads.
///
/// `anyhow::Error`, `std::io::Error` and your own error types all convert into it with `?`
/// or `.into()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A piece of async work that takes a [`Context`]: what [`Tasks`](crate::Tasks) runs.
///
/// The twin of Go's `async.Runner`. Implement it with `#[async_trait]` (re-exported as
/// [`async_tasks::async_trait`](crate::async_trait)), wrap a closure in [`Func`], or let
/// [`#[async_task]`](crate::async_task) write it for an `async fn`.
///
/// `run` takes `&self` so that a runner can run many times: [`Tasks::run_loop`] calls it
/// once per iteration.
///
/// [`Tasks::run_loop`]: crate::Tasks::run_loop
///
/// # Examples
///
/// ```
/// use async_tasks::{async_trait, BoxError, Context, Runner};
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
pub trait Runner: Send + Sync {
    /// Does the work once. An error other than [`ContextError::Canceled`] is reported by the
    /// [`Tasks`](crate::Tasks) that runs it.
    ///
    /// [`ContextError::Canceled`]: crate::ContextError::Canceled
    async fn run(&self, ctx: Context) -> Result<(), BoxError>;

    /// This runner's [`Closer`], if it has one: what [`run_close`] and
    /// [`run_group`](crate::run_group) call to clean up. Replaces Go's type switch.
    fn as_closer(&self) -> Option<&dyn Closer> {
        None
    }

    /// A name for this runner in shutdown reports, or `None` to use the
    /// [`Tasks`](crate::Tasks)' name. `#[async_task]` runners return their span name.
    fn name(&self) -> Option<&'static str> {
        None
    }
}

/// Cleanup for a [`Runner`]: closes what it holds.
///
/// Return it from [`Runner::as_closer`]; [`run_close`] and [`run_group`](crate::run_group)
/// call it.
///
/// # Examples
///
/// ```
/// use async_tasks::{async_trait, run_close, BoxError, Closer, Context, Runner};
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
/// The twin of Go's `async.RunClose`.
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

/// A [`Runner`] made from a closure that returns a future: the twin of Go's `async.Func`.
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

impl<F> Func<F> {
    /// Wraps `f`, which is called once per run with that run's [`Context`].
    ///
    /// The bounds are here, not only on the `Runner` impl, so that closure arguments and
    /// `Ok(())` need no type annotations.
    #[must_use]
    pub const fn new<Fut>(f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Func { f, name: None }
    }

    /// Wraps `f` and gives the runner a [name](Runner::name) for shutdown reports.
    #[must_use]
    pub const fn named<Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Func {
            f,
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

macro_rules! forward_runner {
    ($($ty:ty),* $(,)?) => {$(
        impl<R: Runner + ?Sized> Runner for $ty {
            fn run<'life0, 'async_trait>(
                &'life0 self,
                ctx: Context,
            ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                (**self).run(ctx)
            }

            fn as_closer(&self) -> Option<&dyn Closer> {
                (**self).as_closer()
            }

            fn name(&self) -> Option<&'static str> {
                (**self).name()
            }
        }
    )*};
}

forward_runner!(Box<R>, Arc<R>, &R);

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
