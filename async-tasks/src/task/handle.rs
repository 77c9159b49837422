//! [`TaskHandle`]: what [`Tasks::spawn`](super::Tasks::spawn) returns, to await a spawned
//! task's result, abort it, or drop it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use tokio::task::JoinHandle;

use super::listing::TaskName;
use super::task_error::TaskError;
use crate::outcome::panic_message;

/// A handle to a task started by [`Tasks::spawn`](super::Tasks::spawn) (or a pool's
/// [`spawn`](crate::pool::Pool::spawn) and [`try_spawn`](crate::pool::Pool::try_spawn)): a
/// future of its result, and a way to abort it.
///
/// Awaiting it gives the task's value, or a [`TaskError`] that says whether the task
/// failed (with its error), panicked (with the message), was canceled (returned a
/// cancellation) or was aborted. Dropping the handle detaches: the task runs on, as with
/// tokio's `JoinHandle`, and its set still waits for it, reports it and shuts it down.
///
/// # Cancel safety
///
/// Awaiting the handle is cancel safe: dropping the `.await` loses nothing (the task runs
/// on), and the handle can be awaited again.
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Tasks};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tasks = Tasks::new("svc");
/// let forever = tasks.spawn(&Context::background(), "forever", |ctx| async move {
///     ctx.done().await;
///     Ok::<_, async_tasks::BoxError>(())
/// });
/// assert!(!forever.is_finished());
/// forever.abort();
/// let err = forever.await.unwrap_err();
/// assert!(err.is_aborted());
/// assert_eq!(err.to_string(), "forever was aborted");
/// # }
/// ```
pub struct TaskHandle<T> {
    handle: JoinHandle<Result<T, TaskError>>,
    name: TaskName,
    tasks: Arc<str>,
}

impl<T> TaskHandle<T> {
    /// The handle of the task `handle` runs, named `name`, of the set at `tasks`.
    pub(super) fn new(
        handle: JoinHandle<Result<T, TaskError>>,
        name: TaskName,
        tasks: Arc<str>,
    ) -> Self {
        TaskHandle {
            handle,
            name,
            tasks,
        }
    }

    /// Aborts the task: it is dropped at its next `.await` (or before it starts), and its
    /// handle resolves to a [`TaskError`] that [`is_aborted`](TaskError::is_aborted) —
    /// unless it had finished already. Its set lists it as aborted in a report under way.
    ///
    /// Unlike canceling its context, this does not let the task clean up: it is tokio's
    /// [`JoinHandle::abort`].
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Whether the task has ended (finished, failed, panicked or been aborted), so that
    /// awaiting the handle would not wait.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The name the task was spawned with.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let joined = ready!(Pin::new(&mut self.handle).poll(cx));
        Poll::Ready(match joined {
            Ok(result) => result,
            Err(err) => {
                let (name, tasks) = (self.name.to_string(), Arc::clone(&self.tasks));
                if err.is_panic() {
                    // Only a panic while the task's future is dropped gets here: everything
                    // else it runs is caught.
                    let payload = err.into_panic();
                    Err(TaskError::panicked(name, tasks, panic_message(&*payload)))
                } else {
                    Err(TaskError::aborted(name, tasks))
                }
            }
        })
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("name", &&*self.name)
            .field("tasks", &&*self.tasks)
            .field("finished", &self.is_finished())
            .finish()
    }
}
