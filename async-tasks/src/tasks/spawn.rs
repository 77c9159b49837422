//! [`Tasks::spawn`]: one-shot work as tokio users write it — a closure called once, that
//! owns what it uses and returns a result — with a [`TaskHandle`] to await, abort or drop.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use tokio::task::JoinHandle;

use super::Tasks;
use super::listing::TaskName;
use super::snapshot::TaskKind;
use super::supervise::{Member, Next, Run, Task, Who, conclude, named_task_span, supervise_once};
use crate::outcome::panic_message;
use crate::{BoxError, Context, TaskError};

impl Tasks {
    /// Runs `f` once in a new tokio task named `name`, and returns a [`TaskHandle`] to its
    /// result: `tokio::spawn` as a member of this set.
    ///
    /// `f` is called once, with the run's context (a child of `ctx` and of this set's, as
    /// for [`run`](Tasks::run)), so it can own what it uses — a channel's receiver, a
    /// connection — and return a value. `name` is a `&'static str` or a `String`
    /// (`format!("job-{id}")`).
    ///
    /// The task is a full member of the set: it runs in a `"task"` span (whose `task` field
    /// is its name, beside the set's `task.name`), is listed by its name in [`snapshot`](Tasks::snapshot) and
    /// [`shutdown_report`](Tasks::shutdown_report) (kind [`TaskKind::Spawned`]), counts in
    /// [`running`](Tasks::running), is closed, drained, cancelled and, at the end of a
    /// report's grace period, aborted with the rest of the set. Its failure is reported
    /// like any other run's — one ERROR event — even though the handle returns it too: the
    /// handle may be dropped, or awaited long after, and the trace should say when and
    /// where the task failed whoever reads the result.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime. A panic in `f` (also before it returns
    /// its future) does not propagate: it is caught, reported, and returned by the handle.
    ///
    /// # Examples
    ///
    /// A dispatcher that owns its channel's receiver:
    ///
    /// ```
    /// use async_tasks::{BoxError, Context, Tasks};
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tasks = Tasks::new("svc");
    /// let (jobs, mut queue) = mpsc::channel::<u32>(16);
    /// let dispatcher = tasks.spawn(&Context::background(), "dispatcher", move |_ctx| async move {
    ///     let mut total = 0;
    ///     while let Some(job) = queue.recv().await {
    ///         total += job;
    ///     }
    ///     Ok::<_, BoxError>(total)
    /// });
    /// for job in 1..=3 {
    ///     jobs.send(job).await.unwrap();
    /// }
    /// drop(jobs);
    /// assert_eq!(dispatcher.await.unwrap(), 6);
    ///
    /// let id = 7;
    /// let job = tasks.spawn(&Context::background(), format!("job-{id}"), |_ctx| async {
    ///     Err::<(), _>(std::io::Error::other("disk full"))
    /// });
    /// assert_eq!(job.name(), "job-7");
    /// let err = job.await.unwrap_err();
    /// assert_eq!(err.to_string(), "job-7: disk full");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        self.spawn_as(TaskKind::Spawned, ctx, name.into(), f)
    }

    /// `spawn`, listed as `kind` (a pool's spawned runs are its runs).
    #[track_caller]
    pub(crate) fn spawn_as<F, Fut, T, E>(
        &self,
        kind: TaskKind,
        ctx: &Context,
        name: Cow<'static, str>,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let name = match name {
            Cow::Borrowed(name) => TaskName::Static(name),
            Cow::Owned(name) => TaskName::Shared(name.into()),
        };
        let ticket = self.set.listing.insert(name.clone(), kind, None);
        // Metered by a name of its own only when it is a literal: a name made per task
        // (`job-7`) would make a metric series per task.
        let metered = match &name {
            TaskName::Static(name) => Some(*name),
            TaskName::Shared(_) => None,
        };
        let task = Task {
            owned: f,
            run: Run {
                ctx: ctx.join(&self.set.ctx),
                span: named_task_span(&self.set, &name),
                member: Member::new(&self.set, Some(ticket), metered),
            },
        };
        let handle = self.spawn_tracked(Some(&name), async move {
            // Moved in whole: `f`, and the future it makes, drop before the membership (see
            // `Task`).
            let task = task;
            let (f, mut run) = (task.owned, task.run);
            run.member.meter().start();
            let outcome = supervise_once(f, &mut run).await;
            run.member.meter().finish(outcome.label());
            // Its name comes back from the listing: a future that keeps less is copied less.
            let name = run.member.finish(|| outcome.ended());
            let who = || Who {
                set: run.member.set(),
                name: name.as_deref().unwrap_or_default(),
                iteration: None,
                attempt: None,
            };
            conclude(outcome, &run.span, who, Next::Ends)
        });
        self.set.listing.set_abort(ticket, handle.abort_handle());
        TaskHandle {
            handle,
            name,
            tasks: Arc::clone(&self.set.path),
        }
    }
}

/// A handle to a task started by [`Tasks::spawn`]: a future of its result, and a way to
/// abort it.
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
    /// Aborts the task: it is dropped at its next `.await` (or before it starts), and its
    /// handle resolves to a [`TaskError`] that [`is_aborted`](TaskError::is_aborted) —
    /// unless it had finished already. Its set lists it as aborted in a report under way.
    ///
    /// Unlike cancelling its context, this does not let the task clean up: it is tokio's
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
