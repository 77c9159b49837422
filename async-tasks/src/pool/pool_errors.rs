//! [`PoolErrors`]: the failures a [`Pool`] hands back from [`Pool::wait`], each a
//! [`TaskError`].

use std::error::Error;
use std::fmt;

#[cfg(doc)]
use super::Pool;
use crate::task::TaskError;

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
/// use async_tasks::{Context, Func};
/// use async_tasks::pool::Pool;
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
    /// use async_tasks::{Context, Func};
    /// use async_tasks::pool::Pool;
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
