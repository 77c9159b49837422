//! [`ErrorClass`]: how a failed run is reported, chosen per [`Tasks`](crate::Tasks) by a
//! function of the error (see [`Tasks::with_error_classes`](crate::Tasks::with_error_classes)).
//!
//! The classifiers live in one map keyed by the `Tasks`' id, read only when a run fails:
//! a task's future does not carry its classifier, so tasks of sets without one pay nothing.
//!
//! Invariants:
//! - a set's entry exists from `with_error_classes` until the set's shared state drops;
//! - `ANY` is true whenever the map may be non-empty, so that a failure in a program that
//!   classifies nothing never takes the lock.

use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// How a failed run (an error other than cancellation) is reported.
///
/// The twin of the Go original's status categories: a client error (bad input, not found)
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

static CLASSIFIERS: LazyLock<RwLock<HashMap<u32, Classifier>>> = LazyLock::new(RwLock::default);

/// Set (never cleared) by the first `register`: a cheap "does anyone classify?".
static ANY: AtomicBool = AtomicBool::new(false);

/// Gives the `Tasks` with this id its classifier.
///
/// # Panics
///
/// If it has one already.
pub(crate) fn register(tasks_id: u32, name: &str, classifier: Classifier) {
    let mut map = CLASSIFIERS.write().unwrap_or_else(PoisonError::into_inner);
    assert!(
        map.insert(tasks_id, classifier).is_none(),
        "`Tasks::with_error_classes` was called twice on tasks `{name}`"
    );
    // Relaxed: the map's lock orders the entry itself; this only lets readers skip it.
    ANY.store(true, Ordering::Relaxed);
}

/// Forgets the classifier of a `Tasks` that is gone.
pub(crate) fn unregister(tasks_id: u32) {
    if ANY.load(Ordering::Relaxed) {
        CLASSIFIERS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tasks_id);
    }
}

/// The class of `err` for the `Tasks` with this id (0: none), [`ErrorClass::Error`] if it
/// has no classifier.
pub(crate) fn classify(tasks_id: u32, err: &(dyn Error + 'static)) -> ErrorClass {
    if tasks_id == 0 || !ANY.load(Ordering::Relaxed) {
        return ErrorClass::Error;
    }
    let classifier = CLASSIFIERS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&tasks_id)
        .cloned();
    // Called outside the lock: a classifier may do anything, even start tasks.
    classifier.map_or(ErrorClass::Error, |classify| classify(err))
}
