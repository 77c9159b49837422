//! What the recorder keeps: snapshots of spans and events, and how field values become text.
//!
//! Invariants:
//! - a span's fields keep the order in which each was first recorded; recording a field
//!   again replaces its value in place;
//! - a span's [`Status`] is updated on every write of an `otel.status_*` field, in write
//!   order, so it always equals what `tracing-opentelemetry` derives from the same writes.

use std::fmt;

use tracing::Level;
use tracing::field::{Field, Visit};

/// A recorded span's identity: unique within one [`SpanRecorder`](super::SpanRecorder), in
/// creation order (the first span is `1`).
///
/// Not tracing's [`span::Id`](tracing::span::Id): tracing may reuse those once a span
/// closes, so they cannot name a closed span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(pub(super) u64);

impl SpanId {
    /// The number behind this id.
    #[must_use]
    pub fn into_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Another span that a recorded span or event points at: its parent, or a `follows_from`
/// link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelatedSpan {
    pub(super) id: SpanId,
    pub(super) name: &'static str,
}

impl RelatedSpan {
    /// The related span's id: compare it with [`RecordedSpan::id`].
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// The related span's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The OpenTelemetry status of a span, derived from its fields the way
/// `tracing-opentelemetry` (0.34) derives the status it exports.
///
/// - `otel.status_code` set to `"ok"` gives [`Status::Ok`], to `"error"` gives
///   `Status::Error("")`, to anything else [`Status::Unset`] (case-insensitive);
/// - `otel.status_description` gives `Status::Error(description)`;
/// - each write replaces the status, so the last one wins.
///
/// Only the span's own fields count: `tracing-opentelemetry` also marks a span failed when an
/// ERROR event happens in it (its `with_error_events_to_status`, on by default); this does
/// not, so that a test sees what the code under test recorded.
///
/// # Examples
///
/// ```
/// use async_tasks::testing::{SpanRecorder, Status};
///
/// let recorder = SpanRecorder::install();
/// tracing::info_span!("ok", otel.status_code = "OK");
/// tracing::info_span!("failed", otel.status_description = "disk full");
/// tracing::info_span!("plain");
///
/// assert_eq!(recorder.span("ok").status(), Status::Ok);
/// assert_eq!(recorder.span("failed").status(), Status::Error("disk full".into()));
/// assert_eq!(recorder.span("plain").status(), Status::Unset);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// No status was recorded.
    #[default]
    Unset,
    /// The span was marked successful.
    Ok,
    /// The span was marked failed, with this description (empty if none was given).
    Error(String),
}

/// Field names and their values as text, in the order each was first recorded.
#[derive(Debug, Clone, Default)]
pub(super) struct Fields(Vec<(&'static str, String)>);

impl Fields {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.as_str())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.0.iter().map(|(name, value)| (*name, value.as_str()))
    }

    /// Sets `name`, in place if it was set before.
    fn set(&mut self, name: &'static str, value: String) {
        match self.0.iter_mut().find(|(field, _)| *field == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    // Everything else arrives here: `%value` as its `Display`, `?value` as its `Debug`,
    // numbers and booleans as they print, errors as their `Display`, messages as text.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

/// One span as the recorder saw it: a snapshot taken when it was queried.
///
/// Field values are text: `&str` values and `%`-captured values as their `Display`,
/// `?`-captured values as their `Debug`, numbers and booleans as they print, errors as
/// their `Display`. Fields declared [`Empty`](tracing::field::Empty) and never recorded are
/// absent.
///
/// # Examples
///
/// ```
/// use async_tasks::testing::SpanRecorder;
///
/// let recorder = SpanRecorder::install();
/// let outer = tracing::info_span!("outer");
/// outer.in_scope(|| {
///     let inner = tracing::debug_span!("inner", user = "ada", attempt = 1, late = tracing::field::Empty);
///     inner.record("late", true);
///     inner.in_scope(|| tracing::warn!(retry = 2, "slow"));
/// });
///
/// let inner = recorder.span("inner");
/// assert_eq!(inner.level(), tracing::Level::DEBUG);
/// assert_eq!(inner.parent().map(|p| p.name()), Some("outer"));
/// assert_eq!(inner.parent().map(|p| p.id()), Some(recorder.span("outer").id()));
/// assert_eq!(inner.field("user"), Some("ada"));
/// assert_eq!(inner.field("attempt"), Some("1"));
/// assert_eq!(inner.field("late"), Some("true"));
/// assert_eq!(inner.events()[0].message(), Some("slow"));
/// assert_eq!(inner.events()[0].field("retry"), Some("2"));
/// assert_eq!((inner.enter_count(), inner.exit_count()), (1, 1));
/// assert!(inner.is_closed());
/// assert!(!recorder.span("outer").is_closed()); // `outer` is still held here
/// ```
#[derive(Debug, Clone)]
pub struct RecordedSpan {
    pub(super) id: SpanId,
    /// Position among spans and events, for the tree.
    pub(super) seq: u64,
    pub(super) name: &'static str,
    pub(super) target: &'static str,
    pub(super) level: Level,
    pub(super) parent: Option<RelatedSpan>,
    pub(super) fields: Fields,
    pub(super) status: Status,
    pub(super) follows_from: Vec<RelatedSpan>,
    pub(super) events: Vec<RecordedEvent>,
    pub(super) enters: usize,
    pub(super) exits: usize,
    pub(super) closed: bool,
}

impl RecordedSpan {
    /// This span's id, unique within its recorder.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// The span's name (`"task"` for the runs of a [`Tasks`](crate::task::Tasks)).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The span's target (by default the module path where it was created).
    #[must_use]
    pub fn target(&self) -> &'static str {
        self.target
    }

    /// The span's level.
    #[must_use]
    pub fn level(&self) -> Level {
        self.level
    }

    /// The span's parent, explicit or contextual (the span current where it was created);
    /// `None` for a root span.
    #[must_use]
    pub fn parent(&self) -> Option<&RelatedSpan> {
        self.parent.as_ref()
    }

    /// The value of field `name` as text (see the type docs), or `None` if it was never
    /// recorded.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// Every recorded field as `(name, value)`, in the order each was first recorded: at
    /// creation in declaration order, then by [`Span::record`](tracing::Span::record).
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.fields.iter()
    }

    /// The OpenTelemetry status its fields give it: see [`Status`].
    #[must_use]
    pub fn status(&self) -> Status {
        self.status.clone()
    }

    /// The spans this one `follows_from`, in the order the links were made.
    #[must_use]
    pub fn follows_from(&self) -> &[RelatedSpan] {
        &self.follows_from
    }

    /// The events that happened in this span (not in its children), in order.
    #[must_use]
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// How many times the span was entered: an [instrumented](tracing::Instrument) future
    /// enters it on every poll, and once more when it is dropped.
    #[must_use]
    pub fn enter_count(&self) -> usize {
        self.enters
    }

    /// How many times the span was exited.
    #[must_use]
    pub fn exit_count(&self) -> usize {
        self.exits
    }

    /// Whether the span was closed: every handle to it was dropped.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub(super) fn set_fields(&mut self, fields: Fields) {
        for (name, value) in fields.0 {
            match name {
                "otel.status_code" => self.status = status_from_code(&value),
                "otel.status_description" => self.status = Status::Error(value.clone()),
                _ => {}
            }
            self.fields.set(name, value);
        }
    }
}

fn status_from_code(code: &str) -> Status {
    if code.eq_ignore_ascii_case("ok") {
        Status::Ok
    } else if code.eq_ignore_ascii_case("error") {
        Status::Error(String::new())
    } else {
        Status::Unset
    }
}

/// One event as the recorder saw it.
///
/// Its fields follow the same text rules as [`RecordedSpan`]'s; the event's message, if it
/// has one, is the field `message`.
///
/// # Examples
///
/// ```
/// use async_tasks::testing::SpanRecorder;
///
/// let recorder = SpanRecorder::install();
/// tracing::error!(error = %std::fmt::Error, "write failed");
///
/// let event = &recorder.events()[0];
/// assert_eq!(event.level(), tracing::Level::ERROR);
/// assert_eq!(event.message(), Some("write failed"));
/// assert_eq!(event.field("error"), Some("an error occurred when formatting an argument"));
/// assert!(event.span().is_none()); // it happened outside any span
/// ```
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub(super) seq: u64,
    pub(super) level: Level,
    pub(super) target: &'static str,
    pub(super) span: Option<RelatedSpan>,
    pub(super) fields: Fields,
}

impl RecordedEvent {
    /// The event's level.
    #[must_use]
    pub fn level(&self) -> Level {
        self.level
    }

    /// The event's target (by default the module path where it was raised).
    #[must_use]
    pub fn target(&self) -> &'static str {
        self.target
    }

    /// The event's message: its `message` field.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.field("message")
    }

    /// The value of field `name` as text, or `None` if the event has no such field.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }

    /// Every field as `(name, value)`, `message` included, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.fields.iter()
    }

    /// The span the event happened in (explicit or contextual), or `None` outside any span.
    #[must_use]
    pub fn span(&self) -> Option<&RelatedSpan> {
        self.span.as_ref()
    }
}
