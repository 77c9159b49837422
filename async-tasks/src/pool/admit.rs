//! Admitting work into a [`Pool`]: waiting for a slot, and checking that the pool and the
//! caller's context still allow a run, for [`Pool::run`] and [`Pool::spawn`]; taking a
//! slot or a place in the queue at once, for [`Pool::try_spawn`]; and the runner that holds
//! its slot until the run ends.
//!
//! A queued job keeps its place in the semaphore's own FIFO queue from the moment it is
//! accepted: its acquire is polled once then (with a waker that does nothing), which puts
//! it in tokio's queue, and its task goes on polling it. So queued jobs start in the order
//! they were accepted, and before a `run` or `spawn` that started waiting after them.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use tokio::sync::{AcquireError, OwnedSemaphorePermit};

use super::{AdmitError, Pool};
use crate::context::{Context, ContextError};
use crate::runner::{BoxError, Runner, forward_runner};
use crate::task::{LoopStats, TaskHandle, TaskKind};
#[cfg(doc)]
use crate::{sync::MutexWithContext, task::Tasks};

/// What [`Pool::try_admit`] gives a job it accepts.
enum Admission {
    /// A slot, free now.
    Now(OwnedSemaphorePermit),
    /// A place in the queue.
    Queued(Queued),
}

/// The future of a slot being waited for, owned so that it keeps its place in the queue
/// while it moves into the job's task.
type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// A job's place in a pool's queue: its acquire, already in the semaphore's queue, and its
/// permit of the pool's `places`, given back when it is dropped (it got its slot, gave up,
/// or its task was aborted).
struct Queued {
    acquire: Acquire,
    _place: OwnedSemaphorePermit,
}

impl Queued {
    /// Waits for the slot, unless `ctx` ends first (a shutdown cancels a queued job): its
    /// error then, which reports the job as canceled (or failed by its deadline). A closing
    /// pool still serves its queue: its jobs were accepted.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped, it gives up its place (tokio's acquire) and its count.
    async fn slot(mut self, ctx: &Context) -> Result<OwnedSemaphorePermit, BoxError> {
        let permit = tokio::select! {
            biased;
            permit = &mut self.acquire => permit.expect("a pool never closes its semaphore"),
            () = ctx.done() => return Err(ctx.err().unwrap_or(ContextError::Canceled).into()),
        };
        // The slot may come in the same poll as the context ending (a shutdown ends the run
        // that held it and cancels this job at once): a job checks again before it starts,
        // so a canceled job never starts (the slot goes on to the next).
        match ctx.err() {
            None => Ok(permit),
            Some(err) => Err(err.into()),
        }
    }
}

impl Pool {
    /// Takes a free slot, or else a place in the queue, at once (see
    /// [`try_spawn`](Pool::try_spawn)).
    fn try_admit(&self, ctx: &Context) -> Result<Admission, AdmitError> {
        self.admissible(ctx)?;
        // A free permit means nobody waits: tokio hands released permits to its queue first.
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(Admission::Now(permit));
        }
        let Ok(room) = Arc::clone(&self.places).try_acquire_owned() else {
            return Err(AdmitError::Full);
        };
        let mut place = Queued {
            acquire: Box::pin(Arc::clone(&self.slots).acquire_owned()),
            _place: room,
        };
        // Into the semaphore's queue now, in the order of acceptance (see the module docs).
        let mut noop = TaskContext::from_waker(Waker::noop());
        match place.acquire.as_mut().poll(&mut noop) {
            // A slot freed in between.
            Poll::Ready(permit) => Ok(Admission::Now(
                permit.expect("a pool never closes its semaphore"),
            )),
            Poll::Pending => Ok(Admission::Queued(place)),
        }
    }

    /// Accepts `f` at once, to run now or from the queue (see
    /// [`try_spawn`](Pool::try_spawn)).
    #[track_caller]
    pub(super) fn accept<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: Cow<'static, str>,
        f: F,
    ) -> Result<TaskHandle<T>, AdmitError>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        Ok(match self.try_admit(ctx)? {
            Admission::Now(permit) => self.spawn_admitted(ctx, name, permit, f),
            Admission::Queued(place) => self.spawn_queued(ctx, name, place, f),
        })
    }

    /// Spawns `f` as a run of the pool holding `permit` until it ends.
    #[track_caller]
    pub(super) fn spawn_admitted<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: Cow<'static, str>,
        permit: OwnedSemaphorePermit,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        self.tasks
            .spawn_as((TaskKind::Pool, None), ctx, name, move |ctx| {
                // Held by the task's future until it ends (or is dropped).
                let permit = permit;
                let fut = f(ctx);
                async move {
                    let _permit = permit;
                    fut.await
                }
            })
    }

    /// Spawns `f` as a run of the pool that first waits in the queue, at `place`, for its
    /// slot: listed as queued until it has it.
    #[track_caller]
    fn spawn_queued<F, Fut, T, E>(
        &self,
        ctx: &Context,
        name: Cow<'static, str>,
        place: Queued,
        f: F,
    ) -> TaskHandle<T>
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let stats = Arc::new(LoopStats::queued());
        let started = Arc::clone(&stats);
        self.tasks.spawn_as(
            (TaskKind::Pool, Some(stats)),
            ctx,
            name,
            move |ctx| async move {
                let permit = place.slot(&ctx).await?;
                started.started();
                let _permit = permit;
                f(ctx).await.map_err(Into::into)
            },
        )
    }

    /// Waits for a slot for `runner` (see [`run`](Pool::run)), and returns it with the slot.
    ///
    /// # Cancel safety
    ///
    /// As [`admit`](Pool::admit): dropped, it took no slot, and `runner` is dropped unrun.
    pub(super) async fn admit_runner<R: Runner>(
        &self,
        ctx: &Context,
        runner: R,
    ) -> Result<impl Runner + use<R>, AdmitError> {
        let permit = self.admit(ctx).await?;
        Ok(Admitted {
            runner,
            _permit: permit,
        })
    }

    /// Waits for a slot and checks that a run may start (see [`run`](Pool::run)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the slot is taken in the poll that returns it, and a dropped wait gives
    /// up its place in the semaphore's queue (tokio's `acquire_owned`).
    pub(super) async fn admit(&self, ctx: &Context) -> Result<OwnedSemaphorePermit, AdmitError> {
        self.admissible(ctx)?;
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.acquire(ctx).await?,
        };
        // The slot may come after a long wait: check again before acting on it.
        self.admissible(ctx)?;
        Ok(permit)
    }

    /// Whether a run may start now: the pool open, `ctx` live.
    fn admissible(&self, ctx: &Context) -> Result<(), AdmitError> {
        if self.tasks.is_closed() {
            return Err(AdmitError::Closed);
        }
        match ctx.err() {
            Some(err) => Err(AdmitError::Context(err)),
            None => Ok(()),
        }
    }

    /// Waits for a slot, unless `ctx` ends or the pool closes first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`admit`](Pool::admit).
    async fn acquire(&self, ctx: &Context) -> Result<OwnedSemaphorePermit, AdmitError> {
        let pool = self.tasks.context();
        tokio::select! {
            // Biased towards the slot; `run` checks the context and the pool again anyway.
            biased;
            permit = Arc::clone(&self.slots).acquire_owned() => {
                Ok(permit.expect("a pool never closes its semaphore"))
            }
            () = ctx.done() => Err(AdmitError::Context(ctx.err().unwrap_or(ContextError::Canceled))),
            () = pool.closing() => Err(AdmitError::Closed),
        }
    }
}

/// The runner a [`Pool`] hands to its set: the user's runner, and its slot, given back
/// when the task drops this runner, that is when the run has ended. Forwards everything,
/// the run's future included, so that a run's error reaches the set's report as it was.
struct Admitted<R> {
    runner: R,
    _permit: OwnedSemaphorePermit,
}

forward_runner!(impl[R: Runner] Admitted<R>, |this| &this.runner);
