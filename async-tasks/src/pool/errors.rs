//! The failures a [`Pool`] hands back: [`TaskError`] (one run) and [`PoolErrors`] (all the
//! runs that failed since the last [`Pool::wait`]).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

#[cfg(doc)]
use crate::{Pool, Runner};

/// One failed run of a [`Pool`]: the task's name and its error or panic.
///
/// The name is the runner's [`name`](Runner::name), or the pool's for runners without one.
/// `Display` is `name: error` or `name panicked: message`.
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::new("io");
/// pool.run(&Context::background(), Func::named("read-config", |_ctx| async {
///     Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no config.toml").into())
/// }))
/// .await
/// .unwrap();
/// let errors = pool.wait().await.unwrap_err();
/// let failure = &errors.errors()[0];
/// assert_eq!(failure.name(), "read-config");
/// assert!(!failure.is_panic());
/// let io = failure.error().unwrap().downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
/// assert_eq!(failure.to_string(), "read-config: no config.toml");
/// # }
/// ```
#[derive(Clone)]
pub struct TaskError {
    pub(super) name: String,
    pub(super) failure: Failure,
}

/// What went wrong in a failed run.
#[derive(Clone)]
pub(super) enum Failure {
    Error(Arc<dyn Error + Send + Sync>),
    Panic(Box<str>),
}

impl TaskError {
    /// The task's name: the runner's [`name`](Runner::name), or the pool's.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error the runner returned, or `None` if it panicked.
    #[must_use]
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.failure {
            Failure::Error(err) => Some(&**err),
            Failure::Panic(_) => None,
        }
    }

    /// The message the runner panicked with, or `None` if it returned an error.
    #[must_use]
    pub fn panic_message(&self) -> Option<&str> {
        match &self.failure {
            Failure::Error(_) => None,
            Failure::Panic(message) => Some(message),
        }
    }

    /// Whether the runner panicked (rather than returned an error).
    #[must_use]
    pub fn is_panic(&self) -> bool {
        matches!(self.failure, Failure::Panic(_))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::Error(err) => write!(f, "{}: {err}", self.name),
            Failure::Panic(message) => write!(f, "{} panicked: {message}", self.name),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TaskError");
        s.field("name", &self.name);
        match &self.failure {
            Failure::Error(err) => s.field("error", err),
            Failure::Panic(message) => s.field("panic", message),
        };
        s.finish()
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.failure {
            Failure::Error(err) => Some(&**err),
            Failure::Panic(_) => None,
        }
    }
}

/// The failures [`Pool::wait`] returns: at least one, each a [`TaskError`], in the order
/// they happened.
///
/// `Display` counts them and lists them all:
/// ``2 tasks of pool `fetch` failed: fetch: timeout; resize panicked: bad image``. Its
/// `source()` is the first failure.
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func, Pool};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::new("fetch").max_concurrency(1); // one at a time: a known order
/// let ctx = Context::background();
/// pool.run(&ctx, Func::new(|_ctx| async { Err("timeout".into()) })).await.unwrap();
/// pool.run(&ctx, Func::named("resize", |_ctx| async { panic!("bad image") })).await.unwrap();
/// let errors = pool.wait().await.unwrap_err();
/// assert_eq!(errors.pool_name(), "fetch");
/// assert_eq!(
///     errors.to_string(),
///     "2 tasks of pool `fetch` failed: fetch: timeout; resize panicked: bad image"
/// );
/// let names: Vec<String> = errors.into_iter().map(|e| e.name().to_owned()).collect();
/// assert_eq!(names, ["fetch", "resize"]);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PoolErrors {
    pub(super) pool: String,
    pub(super) errors: Vec<TaskError>,
}

impl PoolErrors {
    /// The name of the [`Pool`] whose runs failed.
    #[must_use]
    pub fn pool_name(&self) -> &str {
        &self.pool
    }

    /// The failures, in the order they happened (never empty).
    #[must_use]
    pub fn errors(&self) -> &[TaskError] {
        &self.errors
    }

    /// The failures, owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::{Context, Func, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::new("jobs");
    /// let ctx = Context::background();
    /// pool.run(&ctx, Func::named("a", |_ctx| async { Err("no".into()) })).await.unwrap();
    /// pool.run(&ctx, Func::named("b", |_ctx| async { panic!("bug") })).await.unwrap();
    /// let mut failures = pool.wait().await.unwrap_err().into_errors();
    /// failures.sort_by(|x, y| x.name().cmp(y.name()));
    /// assert_eq!(failures[0].to_string(), "a: no");
    /// assert_eq!(failures[1].to_string(), "b panicked: bug");
    /// # }
    /// ```
    #[must_use]
    pub fn into_errors(self) -> Vec<TaskError> {
        self.errors
    }
}

impl IntoIterator for PoolErrors {
    type Item = TaskError;
    type IntoIter = std::vec::IntoIter<TaskError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl fmt::Display for PoolErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} task{} of pool `{}` failed: ",
            if n == 1 { "" } else { "s" },
            self.pool
        )?;
        for (i, err) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            fmt::Display::fmt(err, f)?;
        }
        Ok(())
    }
}

impl Error for PoolErrors {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|err| err as &(dyn Error + 'static))
    }
}
