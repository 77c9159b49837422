//! Sets of tasks, as a service runs them: [`Tasks`] runs [`Runner`](crate::runner::Runner)s
//! as traced tokio tasks (once, in a loop, detached, or spawned with a [`TaskHandle`]), in a
//! tree of sets that waits for them, drains them, shuts them down and reports who did what.
//!
//! - Starting work: [`Tasks::run`], [`Tasks::run_loop`] with a [`LoopPolicy`] (and
//!   [`StopLoop`]), [`Tasks::run_background`], [`Tasks::spawn`] → [`TaskHandle`] →
//!   [`TaskError`]; Go's free functions on the [`default_tasks`] set: [`run()`],
//!   [`run_loop`], [`run_background`].
//! - The tree: [`Tasks::child`], [`Tasks::pool`](crate::pool::Pool), what a failure does
//!   ([`OnFailure`]) and how an error is reported ([`ErrorClass`]).
//! - Ending it: [`Tasks::drain`], [`Tasks::shutdown`] ([`ShutdownTimeout`], the cause
//!   [`ShuttingDown`]), [`Tasks::shutdown_report`] ([`ShutdownReport`], [`TaskFailure`]),
//!   [`shutdown_on_signals`] for a `main`.
//! - Looking at it: [`Tasks::snapshot`] ([`Snapshot`], [`TaskInfo`], [`TaskKind`]);
//!   [`quiet_task_panics`], to leave a task's panic to its report.

mod current;
mod default;
mod error_class;
mod escalation;
mod handle;
mod listing;
mod looping;
mod panic_hook;
mod policy;
mod probe;
mod raised;
mod report;
mod set;
mod shutdown;
mod shutdown_report;
#[cfg(all(feature = "signal", any(unix, windows)))]
mod signal;
mod singleton;
mod snapshot;
mod span;
mod start;
mod supervise;
mod task_error;
mod tasks;
#[cfg(test)]
mod tests;
mod wait;

pub use self::default::{default_tasks, run, run_background, run_loop};
pub use self::error_class::ErrorClass;
pub use self::escalation::OnFailure;
pub use self::handle::TaskHandle;
pub use self::panic_hook::quiet_task_panics;
pub use self::policy::{LoopPolicy, StopLoop};
pub use self::shutdown::{ShutdownTimeout, ShuttingDown};
pub use self::shutdown_report::{ShutdownReport, TaskFailure};
#[cfg(all(feature = "signal", any(unix, windows)))]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
pub use self::signal::shutdown_on_signals;
pub use self::snapshot::{Snapshot, TaskInfo, TaskKind};
pub use self::task_error::TaskError;
pub use self::tasks::Tasks;

pub(crate) use self::current::{FailedWith, keep_panic_location, stash_failed_call, with_current};
pub(crate) use self::listing::LoopStats;
pub(crate) use self::raised::{claim as claim_panic_location, resume as resume_panic};
