//! Renders a [`Recording`] as an indented tree of text, for snapshot-style asserts.
//!
//! The output depends only on what was recorded and in which order: no ids, times, thread
//! names or source locations.

use std::fmt::Write as _;

use super::layer::Recording;
use super::span::{RecordedEvent, RecordedSpan};

/// A line of the tree: a span or an event, at its place in time.
enum Node<'a> {
    Span(&'a RecordedSpan),
    Event(&'a RecordedEvent),
}

impl Node<'_> {
    fn seq(&self) -> u64 {
        match self {
            Node::Span(span) => span.seq,
            Node::Event(event) => event.seq,
        }
    }
}

pub(super) fn render(recording: &Recording) -> String {
    // children[i]: spans and events directly under span i; roots: those under none.
    let mut children: Vec<Vec<Node<'_>>> = recording.spans.iter().map(|_| Vec::new()).collect();
    let mut roots = Vec::new();
    for span in &recording.spans {
        match span.parent {
            Some(parent) => children[position(parent.id.0)].push(Node::Span(span)),
            None => roots.push(Node::Span(span)),
        }
    }
    for event in &recording.events {
        match event.span {
            Some(span) => children[position(span.id.0)].push(Node::Event(event)),
            None => roots.push(Node::Event(event)),
        }
    }
    for nodes in children.iter_mut().chain([&mut roots]) {
        nodes.sort_by_key(Node::seq);
    }

    let mut out = String::new();
    write_nodes(&mut out, &roots, &children, 0);
    out
}

fn write_nodes(out: &mut String, nodes: &[Node<'_>], children: &[Vec<Node<'_>>], depth: usize) {
    for node in nodes {
        out.push_str(&"  ".repeat(depth));
        match node {
            Node::Span(span) => {
                span_line(out, span);
                out.push('\n');
                write_nodes(out, &children[position(span.id.0)], children, depth + 1);
            }
            Node::Event(event) => {
                event_line(out, event);
                out.push('\n');
            }
        }
    }
}

/// A span's position in `Recording::spans` from its id (see the layer's invariants).
fn position(id: u64) -> usize {
    // Ids are positions + 1, and positions fit in `usize`.
    (id - 1) as usize
}

fn span_line(out: &mut String, span: &RecordedSpan) {
    out.push_str(span.name);
    for (name, value) in span.fields() {
        let _ = write!(out, " {name}={value:?}");
    }
    if !span.closed {
        out.push_str(" (open)");
    }
}

fn event_line(out: &mut String, event: &RecordedEvent) {
    out.push_str(event.level.as_str());
    if let Some(message) = event.message() {
        let _ = write!(out, " {message}");
    }
    for (name, value) in event.fields().filter(|(name, _)| *name != "message") {
        let _ = write!(out, " {name}={value:?}");
    }
}
