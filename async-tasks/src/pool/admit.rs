//! Admitting work into a [`Pool`]: waiting for a slot, and checking that the pool and the
//! caller's context still allow a run, for [`Pool::run`] and [`Pool::spawn`]; and the runner
//! that holds its slot until the run ends.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::{AdmitError, Pool};
use crate::context::{Context, ContextError};
use crate::runner::{Runner, forward_runner};
#[cfg(doc)]
use crate::{sync::MutexWithContext, task::Tasks};

impl Pool {
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
