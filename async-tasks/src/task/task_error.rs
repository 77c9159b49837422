//! [`TaskError`]: how one task ended when it did not succeed — it failed (with its error),
//! panicked (with the message), was canceled, or was aborted — and by name.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::outcome::{Outcome, message, panic_message};

/// A task that did not succeed: its name, and whether it failed (with the error it
/// returned), panicked (with the message), was canceled, or was aborted.
///
/// What a [`TaskHandle`](crate::task::TaskHandle) resolves to when its task did not return `Ok`,
/// what [`Pool::wait`](crate::pool::Pool::wait) lists (failures and panics), and the
/// [cause](crate::context::Context::cause) the other tasks of a set see when a failure shuts it down
/// (see [`Tasks::on_failure`](crate::task::Tasks::on_failure)).
///
/// The name is the task's: the name given to [`Tasks::spawn`](crate::task::Tasks::spawn), the
/// runner's [`name`](crate::runner::Runner::name), or its set's (or pool's) name for a runner
/// without one. `Display` reads alone: `name: error`, `name panicked: message`,
/// `name was canceled: error`, `name was aborted`, where `error` is the error with its
/// `source()` chain, as the crate's reports print it (`job-7: processing job: upstream
/// returned 503` for an anyhow error with a context). [`source`](Error::source) is the
/// error itself, so that a cancellation inside it is still seen as one; a printer that
/// walks the chain (anyhow's `{:#}`) repeats it after the name.
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func};
/// use async_tasks::pool::Pool;
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
    /// Boxed: a task's output is `Result<T, TaskError>`, which tokio moves with the task's
    /// future; one pointer keeps it small.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    name: String,
    /// The path of the set the task ran in.
    tasks: Arc<str>,
    failure: Failure,
}

/// What went wrong in a task.
#[derive(Clone)]
enum Failure {
    Error(Arc<dyn Error + Send + Sync>),
    Panic(Box<str>),
    Canceled(Arc<dyn Error + Send + Sync>),
    /// Returned [`StopLoop`](crate::task::StopLoop): ended quietly, as a set judges it, with no
    /// value to give.
    Stopped(Arc<dyn Error + Send + Sync>),
    Aborted,
}

impl TaskError {
    /// What a task that ended as `outcome` returns: its value, or how it did not succeed.
    /// `who` gives the task's name and its set's path, only if it did not succeed.
    pub(crate) fn from_outcome<T>(
        outcome: Outcome<T>,
        who: impl FnOnce() -> (String, Arc<str>),
    ) -> Result<T, TaskError> {
        let failure = match outcome {
            Outcome::Finished(value) => return Ok(value),
            Outcome::Failed(err) => Failure::Error(Arc::from(err)),
            Outcome::Stopped(err) => Failure::Stopped(Arc::from(err)),
            Outcome::Canceled(err) => Failure::Canceled(Arc::from(err)),
            Outcome::Panicked(payload) => Failure::Panic(panic_message(&*payload).into()),
        };
        let (name, tasks) = who();
        Err(TaskError {
            inner: Box::new(Inner {
                name,
                tasks,
                failure,
            }),
        })
    }

    /// A task that panicked with `message`.
    pub(crate) fn panicked(name: String, tasks: Arc<str>, message: &str) -> TaskError {
        TaskError {
            inner: Box::new(Inner {
                name,
                tasks,
                failure: Failure::Panic(message.into()),
            }),
        }
    }

    /// A task that was dropped before it ended.
    pub(crate) fn aborted(name: String, tasks: Arc<str>) -> TaskError {
        TaskError {
            inner: Box::new(Inner {
                name,
                tasks,
                failure: Failure::Aborted,
            }),
        }
    }

    /// The task's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The path of the set the task ran in (`svc/jobs`; a root set's is its name), as
    /// [`TaskInfo::tasks`](crate::task::TaskInfo::tasks) gives it.
    #[must_use]
    pub fn tasks(&self) -> &str {
        &self.inner.tasks
    }

    /// The error the task returned: its failure, or for a canceled task the cancellation
    /// it returned (or the [`StopLoop`](crate::task::StopLoop) a task returned, which ends it
    /// quietly, and is none of the kinds below). `None` if it panicked or was aborted.
    #[must_use]
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.inner.failure {
            Failure::Error(err) | Failure::Canceled(err) | Failure::Stopped(err) => Some(&**err),
            Failure::Panic(_) | Failure::Aborted => None,
        }
    }

    /// The message the task panicked with, or `None` if it did not panic.
    #[must_use]
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.failure {
            Failure::Panic(message) => Some(message),
            _ => None,
        }
    }

    /// Whether the task panicked.
    #[must_use]
    pub fn is_panic(&self) -> bool {
        matches!(self.inner.failure, Failure::Panic(_))
    }

    /// Whether the task returned a cancellation: an error that is, or wraps,
    /// [`ContextError::Canceled`](crate::context::ContextError::Canceled) — a task that stopped
    /// because its context was canceled, as asked.
    #[must_use]
    #[doc(alias = "is_cancelled")]
    pub fn is_canceled(&self) -> bool {
        matches!(self.inner.failure, Failure::Canceled(_))
    }

    /// Whether the task was aborted: dropped where it stood, by
    /// [`TaskHandle::abort`](crate::task::TaskHandle::abort), at the end of a
    /// [`shutdown_report`](crate::task::Tasks::shutdown_report)'s grace period, or because its
    /// runtime shut down.
    #[must_use]
    pub fn is_aborted(&self) -> bool {
        matches!(self.inner.failure, Failure::Aborted)
    }

    /// Whether the task failed: it returned an error that is not a cancellation.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self.inner.failure, Failure::Error(_))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.failure {
            Failure::Error(err) => write!(f, "{}: {}", self.inner.name, message(&**err)),
            Failure::Panic(panic) => write!(f, "{} panicked: {panic}", self.inner.name),
            Failure::Canceled(err) => {
                write!(f, "{} was canceled: {}", self.inner.name, message(&**err))
            }
            Failure::Stopped(err) => write!(f, "{} stopped: {}", self.inner.name, message(&**err)),
            Failure::Aborted => write!(f, "{} was aborted", self.inner.name),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TaskError");
        s.field("name", &self.inner.name)
            .field("tasks", &self.inner.tasks);
        match &self.inner.failure {
            Failure::Error(err) => s.field("error", err),
            Failure::Panic(message) => s.field("panic", message),
            Failure::Canceled(err) => s.field("canceled", err),
            Failure::Stopped(err) => s.field("stopped", err),
            Failure::Aborted => s.field("aborted", &true),
        };
        s.finish()
    }
}

impl Error for TaskError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.inner.failure {
            Failure::Error(err) | Failure::Canceled(err) | Failure::Stopped(err) => Some(&**err),
            Failure::Panic(_) | Failure::Aborted => None,
        }
    }
}
