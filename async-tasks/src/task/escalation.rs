//! Escalation: what a failed or panicked run does to its set tree, beyond being reported —
//! [`OnFailure`], set by [`Tasks::on_failure`](crate::task::Tasks::on_failure) and [`Tasks::on_panic`](crate::task::Tasks::on_panic).

/// What a failed (or panicked) run of a set does beyond its report: nothing, or shut down
/// its set, its parent set, or the whole tree, with the failure as the
/// [cause](crate::context::Context::cause) every task there sees.
///
/// Like tokio-graceful-shutdown's `ErrorAction`, with the target named: a service
/// whose database loop must not die alone says so with
/// `tasks.child("db").on_failure(OnFailure::ShutdownRoot)`.
///
/// Shutting down here means what [`Tasks::shutdown`](crate::task::Tasks::shutdown) does first: the set is closed (loops
/// stop, pools admit nothing) and every task of it and its child sets is canceled, with
/// the failure — a [`TaskError`](crate::task::TaskError) — as the cause. Nobody waits here: the
/// program's `main` waits, with [`Tasks::shutdown_report`](crate::task::Tasks::shutdown_report), whose
/// [`cause`](crate::task::ShutdownReport::cause) then names the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
#[repr(u8)]
pub enum OnFailure {
    /// Report the failure, nothing more (the default).
    #[default]
    Report,
    /// Shut down the set the run belongs to, with its child sets.
    ShutdownSet,
    /// Shut down the set's parent, with all its children (the set itself among them); a
    /// root set shuts down itself.
    ShutdownParent,
    /// Shut down the root of the set's tree: everything.
    ShutdownRoot,
}

impl OnFailure {
    pub(crate) fn from_u8(value: u8) -> OnFailure {
        [
            OnFailure::Report,
            OnFailure::ShutdownSet,
            OnFailure::ShutdownParent,
            OnFailure::ShutdownRoot,
        ]
        .into_iter()
        .find(|action| *action as u8 == value)
        .unwrap_or(OnFailure::Report)
    }
}
