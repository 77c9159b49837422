//! [`ErrorClass`]: how a failed run is reported, chosen per [`Tasks`](crate::task::Tasks) by a
//! function of the error (see [`Tasks::with_error_classes`](crate::task::Tasks::with_error_classes)).
//! The classifier lives in the set it was given to (and is read by the set's runs, which
//! hold the set); a child set without one of its own uses its parent's.

use std::error::Error;
use std::sync::Arc;

/// How a failed run (an error other than cancellation) is reported.
///
/// Like the Go original's status categories: a client error (bad input, not found)
/// is worth a warning, a server error is an error, an expected outcome is not worth a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ErrorClass {
    /// One ERROR event with an `error` field, and the span marked failed
    /// (`otel.status_code = "ERROR"`, `otel.status_description`). The default.
    #[default]
    Error,
    /// One WARN event with an `error` field; the span's status stays unset, as
    /// OpenTelemetry's conventions have it for a server span's client errors.
    Warn,
    /// Nothing: no event, no status. The run still failed (a loop stops, a policy retries).
    Ignore,
}

/// A `Tasks`' classifier.
pub(crate) type Classifier = Arc<dyn Fn(&(dyn Error + 'static)) -> ErrorClass + Send + Sync>;
