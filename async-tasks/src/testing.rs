//! Assert on the spans your code records: a [`SpanRecorder`], Go's
//! `tracetest.NewSpanRecorder()`.
//!
//! [`SpanRecorder::install`] makes a recording subscriber the default for the current thread
//! until the recorder is dropped. It keeps every span (name, target, level, parent, fields,
//! `follows_from` links, events, enters, exits, close) and every event, and answers
//! questions about them: [`spans`](SpanRecorder::spans) (the closed ones, like Go's
//! `Ended()`), [`span`](SpanRecorder::span) (the one span with a name),
//! [`tree`](SpanRecorder::tree) (everything as indented text, for snapshot asserts).
//!
//! It is a [`tracing_subscriber::Layer`] over a [`tracing_subscriber::Registry`]; nothing is
//! printed or exported.
//!
//! # Examples
//!
//! ```
//! use async_tasks::testing::{SpanRecorder, Status};
//! use async_tasks::{Context, Func, Tasks};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let recorder = SpanRecorder::install();
//!
//! let tasks = Tasks::new("sync-users");
//! tracing::info_span!("request").in_scope(|| {
//!     tasks.run(&Context::background(), Func::new(|_ctx| async {
//!         tracing::info!(users = 3, "synced");
//!         Ok(())
//!     }));
//! });
//! tasks.wait().await;
//!
//! let task = recorder.span("task");
//! assert_eq!(task.field("task.name"), Some("sync-users"));
//! assert_eq!(task.parent().map(|parent| parent.name()), Some("request"));
//! assert_eq!(task.events()[0].message(), Some("synced"));
//! assert_eq!(task.status(), Status::Unset);
//! assert!(task.is_closed());
//! assert_eq!(
//!     recorder.tree(),
//!     "\
//! request
//!   task task.name=\"sync-users\" otel.name=\"sync-users\"
//!     INFO synced users=\"3\"
//! "
//! );
//! # }
//! ```
//!
//! # Runtimes
//!
//! A tracing default is per thread. Tokio's current-thread runtime, the default of
//! `#[tokio::test]`, runs every task on the thread that runs the test, so an installed
//! recorder sees them all.
//!
//! On a multi-thread runtime, tasks run on worker threads, where the recorder is not the
//! default: spans created on the test's thread are still recorded, but events and
//! [`Span::current`](tracing::Span::current) on a worker are not. Make the recorder's
//! [`dispatch`](SpanRecorder::dispatch) the default on every worker when you build the
//! runtime:
//!
//! ```
//! use async_tasks::testing::SpanRecorder;
//! use async_tasks::{Context, Func, Tasks};
//!
//! let recorder = SpanRecorder::new();
//! let dispatch = recorder.dispatch();
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .on_thread_start(move || {
//!         // A worker lives as long as the runtime: keep the default for its whole life.
//!         std::mem::forget(tracing::dispatcher::set_default(&dispatch));
//!     })
//!     .build()
//!     .unwrap();
//!
//! tracing::dispatcher::with_default(&recorder.dispatch(), || {
//!     runtime.block_on(async {
//!         let tasks = Tasks::new("worker");
//!         tasks.run(&Context::background(), Func::new(|_ctx| async { Err("boom".into()) }));
//!         tasks.wait().await;
//!     })
//! });
//!
//! assert_eq!(recorder.span("task").events()[0].field("error"), Some("boom"));
//! ```
//!
//! To record a single future wherever it is polled, `tracing::instrument::WithSubscriber`
//! with the recorder's dispatch does it, but tasks that future spawns do not inherit it.

mod layer;
mod span;
mod tree;

#[cfg(test)]
mod tests;

use std::fmt;

use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

use self::layer::{RecordingLayer, Shared, lock};
pub use self::span::{RecordedEvent, RecordedSpan, RelatedSpan, SpanId, Status};

/// Keeps a second dispatcher alive for the whole process, so that tracing never takes its
/// one-dispatcher shortcut while a recorder exists.
///
/// With at most one live dispatcher, tracing-core decides a callsite's interest, once and
/// for the whole process, from the default subscriber of whichever thread reaches the
/// callsite first (tokio-rs/tracing#3611). Tests run on many threads: a test without a
/// subscriber reaching a callsite first would cache "never", and a recorder on another
/// thread would silently see nothing from it. With two or more live dispatchers the
/// interest is combined from all of them ("sometimes", checked per call), whatever the
/// thread; and every new recorder rebuilds the interest of every callsite.
fn keep_interest_honest() {
    static ANCHOR: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

/// Records every span and event of the code it watches, for a test to assert on.
///
/// Create it with [`install`](SpanRecorder::install) to watch the current thread until it is
/// dropped, or with [`new`](SpanRecorder::new) and hand its [`dispatch`](SpanRecorder::dispatch)
/// to whatever should report to it. Queries return snapshots: calling one again sees what
/// was recorded since. The recorder is `Send` and `Sync` (its queries can be made from any
/// thread), but an installed one watches only the thread that installed it, and is meant to
/// be dropped there: dropping it restores the default subscriber of the thread that drops
/// it. To watch other threads, hand them its [`dispatch`](SpanRecorder::dispatch).
///
/// See the [module docs](self) for an example with [`Tasks`](crate::task::Tasks) and for
/// multi-thread runtimes.
///
/// # Examples
///
/// ```
/// use async_tasks::testing::SpanRecorder;
///
/// let recorder = SpanRecorder::install();
/// let request = tracing::info_span!("request", path = "/users");
/// request.in_scope(|| tracing::info!("handled"));
/// drop(request);
///
/// let spans = recorder.spans(); // the closed ones
/// assert_eq!(spans.len(), 1);
/// assert_eq!(spans[0].name(), "request");
/// assert_eq!(spans[0].field("path"), Some("/users"));
/// assert_eq!(recorder.tree(), "request path=\"/users\"\n  INFO handled\n");
/// ```
pub struct SpanRecorder {
    shared: Shared,
    dispatch: Dispatch,
    /// Set by `install`: restores the thread's previous default when dropped.
    installed: Option<DefaultGuard>,
}

impl SpanRecorder {
    /// A recorder that watches nothing yet: pass its [`dispatch`](SpanRecorder::dispatch)
    /// to [`tracing::dispatcher::with_default`], `WithSubscriber` or a runtime's
    /// `on_thread_start`. Use [`install`](SpanRecorder::install) for the common case.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::testing::SpanRecorder;
    ///
    /// let recorder = SpanRecorder::new();
    /// tracing::info_span!("unseen"); // no subscriber here
    /// tracing::dispatcher::with_default(&recorder.dispatch(), || {
    ///     tracing::info_span!("seen");
    /// });
    /// assert_eq!(recorder.spans().len(), 1);
    /// assert_eq!(recorder.spans()[0].name(), "seen");
    /// ```
    #[must_use]
    pub fn new() -> SpanRecorder {
        keep_interest_honest();
        let shared = Shared::default();
        let layer = RecordingLayer {
            shared: Shared::clone(&shared),
        };
        SpanRecorder {
            shared,
            dispatch: Dispatch::new(Registry::default().with(layer)),
            installed: None,
        }
    }

    /// A recorder installed as the current thread's default subscriber until it is dropped;
    /// then the previous default is back.
    ///
    /// Everything the thread records meanwhile is kept, including the tasks of a
    /// current-thread tokio runtime (what `#[tokio::test]` uses). For multi-thread
    /// runtimes, see the [module docs](self#runtimes).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::testing::SpanRecorder;
    ///
    /// {
    ///     let recorder = SpanRecorder::install();
    ///     tracing::info_span!("inside");
    ///     assert_eq!(recorder.all_spans().len(), 1);
    /// }
    /// tracing::info_span!("after"); // the recorder is gone, and so is its subscriber
    /// ```
    #[must_use = "the recorder is uninstalled when dropped"]
    pub fn install() -> SpanRecorder {
        let mut recorder = SpanRecorder::new();
        recorder.installed = Some(tracing::dispatcher::set_default(&recorder.dispatch));
        recorder
    }

    /// The recording subscriber, to make it the default elsewhere: on another thread, for
    /// one future (`WithSubscriber`), or for a closure
    /// ([`with_default`](tracing::dispatcher::with_default)).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::testing::SpanRecorder;
    ///
    /// let recorder = SpanRecorder::new();
    /// let dispatch = recorder.dispatch();
    /// std::thread::spawn(move || {
    ///     tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("on a thread"));
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(recorder.span("on a thread").name(), "on a thread");
    /// ```
    #[must_use]
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }

    /// The closed spans, in the order they closed: Go's `Ended()`.
    ///
    /// A span closes when its last handle is dropped; a [`Tasks`](crate::task::Tasks) run's span
    /// closes before [`Tasks::wait`](crate::task::Tasks::wait) can return.
    #[must_use]
    pub fn spans(&self) -> Vec<RecordedSpan> {
        let recording = lock(&self.shared);
        let spans = &recording.spans;
        recording.closed.iter().map(|&i| spans[i].clone()).collect()
    }

    /// Every span, open or closed, in the order they were created.
    #[must_use]
    pub fn all_spans(&self) -> Vec<RecordedSpan> {
        lock(&self.shared).spans.clone()
    }

    /// The spans named `name`, open or closed, in the order they were created.
    #[must_use]
    pub fn spans_named(&self, name: &str) -> Vec<RecordedSpan> {
        let recording = lock(&self.shared);
        let named = recording.spans.iter().filter(|span| span.name == name);
        named.cloned().collect()
    }

    /// The one span named `name`, open or closed.
    ///
    /// # Panics
    ///
    /// Panics unless exactly one span has that name; the message shows the whole
    /// [`tree`](SpanRecorder::tree).
    #[must_use]
    #[track_caller]
    pub fn span(&self, name: &str) -> RecordedSpan {
        let mut named = self.spans_named(name);
        if named.len() != 1 {
            panic!(
                "expected exactly one span named `{name}`, found {}; recorded:\n{}",
                named.len(),
                self.tree()
            );
        }
        named.remove(0)
    }

    /// Every event, inside spans or not, in the order they happened.
    #[must_use]
    pub fn events(&self) -> Vec<RecordedEvent> {
        lock(&self.shared).events.clone()
    }

    /// Everything recorded, as an indented tree of text.
    ///
    /// One line per span and per event, each under its parent span, two spaces deeper;
    /// siblings (spans and events alike) in the order they were created. A span's line is
    /// its name, then its fields as `name="value"` in the order they were first recorded,
    /// then ` (open)` if it is not closed. An event's line is its level, its message, then
    /// its other fields. Values are quoted and escaped as Rust's `{:?}` does for strings,
    /// whatever their type. No ids, times or locations: the output is the same on every run
    /// of a deterministic test.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::testing::SpanRecorder;
    ///
    /// let recorder = SpanRecorder::install();
    /// let request = tracing::info_span!("request", id = 7);
    /// request.in_scope(|| {
    ///     tracing::info_span!("load", table = "users").in_scope(|| {
    ///         tracing::warn!(rows = 0, "empty table");
    ///     });
    ///     tracing::info!("done");
    /// });
    /// assert_eq!(
    ///     recorder.tree(),
    ///     "\
    /// request id=\"7\" (open)
    ///   load table=\"users\"
    ///     WARN empty table rows=\"0\"
    ///   INFO done
    /// "
    /// );
    /// ```
    #[must_use]
    pub fn tree(&self) -> String {
        tree::render(&lock(&self.shared))
    }
}

impl Default for SpanRecorder {
    fn default() -> Self {
        SpanRecorder::new()
    }
}

impl fmt::Debug for SpanRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recording = lock(&self.shared);
        f.debug_struct("SpanRecorder")
            .field("spans", &recording.spans.len())
            .field("closed", &recording.closed.len())
            .field("events", &recording.events.len())
            .field("installed", &self.installed.is_some())
            .finish()
    }
}
