//! The names of every field the crate records on a span or an event, in one place: spans
//! and events name them through tracing's `{ CONST } = value` syntax, `#[async_task]`'s
//! expansion through `__private::fields`, and `fmt::Fields` reads them to know what to
//! leave out. Imports nothing. (The four failure fields are `pub`: `__private` re-exports
//! them for `#[async_task]`'s expansion.)

/// A failure's error, its `Display` (with its `source()` chain).
pub const ERROR: &str = "error";
/// A panic's message.
pub const PANIC: &str = "panic";
/// `"ERROR"` on a failed span: what `tracing-opentelemetry` exports as the span status.
pub const STATUS_CODE: &str = "otel.status_code";
/// The message of a failed span's status.
pub const STATUS_DESCRIPTION: &str = "otel.status_description";
/// The name OpenTelemetry shows a span by (a run's: its set's name).
pub(crate) const OTEL_NAME: &str = "otel.name";
/// The prefix of the fields meant for OpenTelemetry only.
#[cfg_attr(not(feature = "fmt"), allow(dead_code))]
pub(crate) const OTEL_PREFIX: &str = "otel.";

/// A run span's set name.
pub(crate) const TASK_NAME: &str = "task.name";
/// A task's name: on an event, the task it is about; on a spawned task's span, its own.
pub(crate) const TASK: &str = "task";
/// The path of a task's set (`svc/jobs`).
pub(crate) const TASKS: &str = "tasks";
/// A loop iteration's number (1, 2, ...).
pub(crate) const ITERATION: &str = "iteration";
/// Which attempt in a row a loop iteration is (1 unless it retries after failures).
pub(crate) const ATTEMPT: &str = "attempt";
/// How many failures in a row a loop gave up after.
pub(crate) const FAILURES: &str = "failures";
/// The pause before a loop's next attempt.
pub(crate) const RETRY_IN: &str = "retry_in";
/// How many more panics a poll raised than it kept, each caught inside the run.
pub(crate) const PANICS: &str = "panics";
/// Where a task's panic was raised (`src/jobs.rs:42:9`).
pub(crate) const LOCATION: &str = "location";

/// A lease's name, on a lease's events.
pub(crate) const LEASE: &str = "lease";
/// Who holds a lease (a replica's holder id).
pub(crate) const HOLDER: &str = "holder";
/// A term's fence.
pub(crate) const FENCE: &str = "fence";
/// A term span's lease name.
pub(crate) const LEASE_NAME: &str = "lease.name";
/// A term span's holder.
pub(crate) const LEASE_HOLDER: &str = "lease.holder";
/// A term span's fence.
pub(crate) const LEASE_FENCE: &str = "lease.fence";

/// A signal's name (`SIGTERM`), on the signal helper's events.
#[cfg_attr(not(feature = "signal"), allow(dead_code))]
pub(crate) const SIGNAL: &str = "signal";
/// The code the process exits with on a second signal.
#[cfg_attr(not(feature = "signal"), allow(dead_code))]
pub(crate) const EXIT_CODE: &str = "exit_code";
/// How many tasks still run (when the process exits on a second signal).
#[cfg_attr(not(feature = "signal"), allow(dead_code))]
pub(crate) const RUNNING: &str = "running";
