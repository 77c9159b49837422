//! The recording [`Layer`] and the state it fills.
//!
//! Invariants:
//! - `spans[i].id == SpanId(i + 1)`: a span's id is its position, so it never changes and
//!   never names another span (tracing may reuse the registry's ids after close);
//! - a live registry span carries its position as an [`Index`] extension from
//!   `on_new_span` until it closes;
//! - `closed` holds each closed span's position once, in close order;
//! - every event is in `events`, and also in its span's `events` if it has one.
//!
//! Lock order: the state mutex is never held while a registry extension lock is taken,
//! and no extension lock is held while taking the state mutex, so the two cannot deadlock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::span::{Fields, RecordedEvent, RecordedSpan, RelatedSpan, SpanId, Status};

/// Everything recorded so far.
#[derive(Debug, Default)]
pub(super) struct Recording {
    /// Every span, in creation order.
    pub(super) spans: Vec<RecordedSpan>,
    /// Positions in `spans` of the closed ones, in close order.
    pub(super) closed: Vec<usize>,
    /// Every event, in order.
    pub(super) events: Vec<RecordedEvent>,
    /// The next position among spans and events together.
    next_seq: u64,
}

impl Recording {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn related(&self, index: usize) -> RelatedSpan {
        let span = &self.spans[index];
        RelatedSpan {
            id: span.id,
            name: span.name,
        }
    }
}

/// Shared between the layer (writer) and the recorder (reader).
pub(super) type Shared = Arc<Mutex<Recording>>;

/// Locks `shared`, also after a panic elsewhere (a failed assertion while another thread
/// records must not turn into a second, confusing panic here).
pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Recording> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registry span's position in [`Recording::spans`].
#[derive(Debug, Clone, Copy)]
struct Index(usize);

fn index_of<S>(span: &SpanRef<'_, S>) -> Option<usize>
where
    S: for<'a> LookupSpan<'a>,
{
    span.extensions().get::<Index>().map(|index| index.0)
}

/// Records every span and event of the subscriber it is layered on.
#[derive(Debug)]
pub(super) struct RecordingLayer {
    pub(super) shared: Shared,
}

impl RecordingLayer {
    fn with_span<S>(&self, id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&mut RecordedSpan))
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(index) = ctx.span(id).as_ref().and_then(index_of) else {
            return;
        };
        f(&mut lock(&self.shared).spans[index]);
    }
}

impl<S> Layer<S> for RecordingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        // The registry resolved the parent already: explicit, contextual, or none.
        let parent = span.parent().as_ref().and_then(index_of);
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let meta: &'static Metadata<'static> = span.metadata();

        let index = {
            let mut recording = lock(&self.shared);
            let index = recording.spans.len();
            let mut recorded = RecordedSpan {
                id: SpanId(index as u64 + 1),
                seq: recording.seq(),
                name: meta.name(),
                target: meta.target(),
                level: *meta.level(),
                parent: parent.map(|parent| recording.related(parent)),
                fields: Fields::default(),
                status: Status::Unset,
                follows_from: Vec::new(),
                events: Vec::new(),
                enters: 0,
                exits: 0,
                closed: false,
            };
            recorded.set_fields(fields);
            recording.spans.push(recorded);
            index
        };
        span.extensions_mut().insert(Index(index));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        self.with_span(id, &ctx, |span| span.set_fields(fields));
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(index) = ctx.span(id).as_ref().and_then(index_of) else {
            return;
        };
        let Some(follows) = ctx.span(follows).as_ref().and_then(index_of) else {
            return;
        };
        let mut recording = lock(&self.shared);
        let link = recording.related(follows);
        recording.spans[index].follows_from.push(link);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let index = ctx.event_span(event).as_ref().and_then(index_of);
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();

        let mut recording = lock(&self.shared);
        let recorded = RecordedEvent {
            seq: recording.seq(),
            level: *meta.level(),
            target: meta.target(),
            span: index.map(|index| recording.related(index)),
            fields,
        };
        if let Some(index) = index {
            recording.spans[index].events.push(recorded.clone());
        }
        recording.events.push(recorded);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_span(id, &ctx, |span| span.enters += 1);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_span(id, &ctx, |span| span.exits += 1);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // The registry keeps the span until every layer has seen its close.
        let Some(index) = ctx.span(&id).as_ref().and_then(index_of) else {
            return;
        };
        let mut recording = lock(&self.shared);
        recording.spans[index].closed = true;
        recording.closed.push(index);
    }
}
