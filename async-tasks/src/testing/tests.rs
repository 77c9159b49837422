use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Level;
use tracing::field::Empty;

use super::{SpanRecorder, Status};

#[test]
fn parents_are_resolved_contextual_explicit_and_none() {
    let recorder = SpanRecorder::install();
    let outer = tracing::info_span!("outer");
    let other = tracing::info_span!("other");
    outer.in_scope(|| {
        tracing::info_span!("contextual");
        tracing::info_span!(parent: &other, "explicit");
        tracing::info_span!(parent: None, "root");
    });

    let outer_id = recorder.span("outer").id();
    let other_id = recorder.span("other").id();
    let contextual = recorder.span("contextual");
    let parent = contextual.parent().expect("a contextual parent");
    assert_eq!((parent.id(), parent.name()), (outer_id, "outer"));
    let explicit = recorder.span("explicit");
    let parent = explicit.parent().expect("an explicit parent");
    assert_eq!((parent.id(), parent.name()), (other_id, "other"));
    assert!(recorder.span("root").parent().is_none());
    assert!(recorder.span("outer").parent().is_none());
}

#[test]
fn span_metadata_is_kept() {
    let recorder = SpanRecorder::install();
    tracing::trace_span!(target: "my::target", "fine");
    let span = recorder.span("fine");
    assert_eq!(span.level(), Level::TRACE);
    assert_eq!(span.target(), "my::target");
}

#[test]
fn fields_keep_first_recorded_order_and_take_later_values() {
    let recorder = SpanRecorder::install();
    let span = tracing::info_span!("s", a = 1, b = Empty, c = "three", d = ?Some(4), e = %"five");
    span.record("b", "late");
    span.record("a", 10);

    let recorded = recorder.span("s");
    let fields: Vec<_> = recorded.fields().collect();
    assert_eq!(
        fields,
        [
            ("a", "10"),
            ("c", "three"),
            ("d", "Some(4)"),
            ("e", "five"),
            ("b", "late")
        ]
    );
    assert_eq!(recorded.field("b"), Some("late"));
    assert_eq!(recorded.field("missing"), None);
}

#[test]
fn empty_fields_never_recorded_are_absent() {
    let recorder = SpanRecorder::install();
    tracing::info_span!("s", later = Empty);
    assert_eq!(recorder.span("s").field("later"), None);
    assert_eq!(recorder.span("s").fields().count(), 0);
}

#[test]
fn follows_from_links_name_the_linked_span() {
    let recorder = SpanRecorder::install();
    let cause = tracing::info_span!("cause");
    let effect = tracing::info_span!(parent: None, "effect");
    effect.follows_from(&cause);
    effect.follows_from(tracing::Span::none().id()); // no-op

    let links = recorder.span("effect").follows_from().to_vec();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].name(), "cause");
    assert_eq!(links[0].id(), recorder.span("cause").id());
    assert!(recorder.span("cause").follows_from().is_empty());
}

#[test]
fn events_are_kept_in_their_span_and_outside_any() {
    let recorder = SpanRecorder::install();
    tracing::warn!(n = 1, "before");
    let outer = tracing::info_span!("outer");
    outer.in_scope(|| {
        tracing::info_span!("inner").in_scope(|| tracing::error!("deep"));
        tracing::info!(parent: None, "explicit root");
        tracing::debug!(flag = true);
    });

    let events = recorder.events();
    let messages: Vec<_> = events.iter().map(|event| event.message()).collect();
    assert_eq!(
        messages,
        [Some("before"), Some("deep"), Some("explicit root"), None]
    );
    assert!(events[0].span().is_none());
    assert_eq!(events[0].level(), Level::WARN);
    assert_eq!(events[0].field("n"), Some("1"));
    assert_eq!(events[1].span().map(|span| span.name()), Some("inner"));
    assert!(events[2].span().is_none());
    assert_eq!(events[3].field("flag"), Some("true"));

    let outer = recorder.span("outer");
    assert_eq!(
        outer.events().len(),
        1,
        "only its own events, not its child's"
    );
    assert_eq!(outer.events()[0].level(), Level::DEBUG);
    assert_eq!(recorder.span("inner").events()[0].message(), Some("deep"));
}

/// Pending on its first poll, ready on its second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn lifecycle_counts_enters_exits_and_close() {
    use tracing::Instrument;

    let recorder = SpanRecorder::install();
    let span = tracing::info_span!("polled");
    let handle = span.clone();
    let mut task = tokio_test::task::spawn(YieldOnce(false).instrument(span));
    tokio_test::assert_pending!(task.poll());
    tokio_test::assert_ready!(task.poll());
    drop(task);

    let polled = recorder.span("polled");
    // Two polls, and once more while the inner future is dropped.
    assert_eq!((polled.enter_count(), polled.exit_count()), (3, 3));
    assert!(!polled.is_closed(), "a handle is still alive");
    assert!(recorder.spans().is_empty());

    drop(handle);
    assert!(recorder.span("polled").is_closed());
    assert_eq!(recorder.spans().len(), 1);
}

#[test]
fn spans_lists_closed_spans_in_close_order_and_all_spans_in_creation_order() {
    let recorder = SpanRecorder::install();
    let first = tracing::info_span!("first");
    let second = tracing::info_span!("second");
    let third = tracing::info_span!("third");
    drop(second);
    drop(first);

    let closed: Vec<_> = recorder.spans().iter().map(|span| span.name()).collect();
    assert_eq!(closed, ["second", "first"]);
    let all: Vec<_> = recorder
        .all_spans()
        .iter()
        .map(|span| span.name())
        .collect();
    assert_eq!(all, ["first", "second", "third"]);
    drop(third);
}

#[test]
fn ids_count_spans_in_creation_order_and_outlive_the_spans() {
    let recorder = SpanRecorder::install();
    drop(tracing::info_span!("same"));
    drop(tracing::info_span!("same"));
    let open = tracing::info_span!("open");

    let ids: Vec<_> = recorder
        .all_spans()
        .iter()
        .map(|span| span.id().into_u64())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    let closed = recorder.spans_named("same");
    assert!(closed.iter().all(|span| span.is_closed()));
    assert_eq!(recorder.span("open").id().to_string(), "3");
    drop(open);
}

#[test]
#[should_panic(
    expected = "expected exactly one span named `twice`, found 2; recorded:\n\
                           twice\ntwice\nonce\n"
)]
fn span_by_name_panics_with_the_tree_unless_exactly_one() {
    let recorder = SpanRecorder::install();
    tracing::info_span!("twice");
    tracing::info_span!("twice");
    tracing::info_span!("once");
    let _ = recorder.span("once");
    let _ = recorder.span("twice");
}

#[test]
#[should_panic(expected = "expected exactly one span named `missing`, found 0")]
fn span_by_name_panics_when_missing() {
    let recorder = SpanRecorder::install();
    let _ = recorder.span("missing");
}

#[test]
fn status_follows_the_otel_fields_last_write_wins() {
    let recorder = SpanRecorder::install();
    tracing::info_span!("ok", otel.status_code = "Ok");
    tracing::info_span!("error", otel.status_code = "ERROR");
    tracing::info_span!("unknown", otel.status_code = "maybe");
    tracing::info_span!("described", otel.status_description = "disk full");
    let later = tracing::info_span!(
        "later",
        otel.status_code = Empty,
        otel.status_description = Empty
    );
    later.record("otel.status_code", "error");
    later.record("otel.status_description", "timed out");
    let back = tracing::info_span!("back", otel.status_code = "error");
    back.record("otel.status_code", "ok");
    tracing::info_span!("plain").in_scope(|| tracing::error!("an error event alone"));

    assert_eq!(recorder.span("ok").status(), Status::Ok);
    assert_eq!(
        recorder.span("error").status(),
        Status::Error(String::new())
    );
    assert_eq!(recorder.span("unknown").status(), Status::Unset);
    assert_eq!(
        recorder.span("described").status(),
        Status::Error("disk full".into())
    );
    assert_eq!(
        recorder.span("later").status(),
        Status::Error("timed out".into())
    );
    assert_eq!(recorder.span("back").status(), Status::Ok);
    assert_eq!(recorder.span("plain").status(), Status::Unset);
}

#[test]
fn tree_nests_spans_and_events_in_creation_order() {
    let recorder = SpanRecorder::install();
    tracing::info!("first of all");
    let request = tracing::info_span!("request", path = "/a \"b\"\nc");
    request.in_scope(|| {
        tracing::debug!("start");
        tracing::info_span!("child", n = 1).in_scope(|| tracing::error!(error = "boom"));
        tracing::info!(k = 2, "end");
    });
    tracing::info_span!(parent: None, "detached", flag = true);

    assert_eq!(
        recorder.tree(),
        "\
INFO first of all
request path=\"/a \\\"b\\\"\\nc\" (open)
  DEBUG start
  child n=\"1\"
    ERROR error=\"boom\"
  INFO end k=\"2\"
detached flag=\"true\"
"
    );
}

#[test]
fn tree_of_nothing_is_empty() {
    let recorder = SpanRecorder::install();
    assert_eq!(recorder.tree(), "");
}

#[test]
fn dropping_an_installed_recorder_restores_the_previous_default() {
    let outer = SpanRecorder::install();
    {
        let inner = SpanRecorder::install();
        tracing::info_span!("to inner");
        assert_eq!(inner.all_spans().len(), 1);
    }
    tracing::info_span!("to outer");
    let names: Vec<_> = outer.all_spans().iter().map(|span| span.name()).collect();
    assert_eq!(names, ["to outer"]);
}

#[test]
fn a_recorder_that_is_not_installed_sees_nothing() {
    let recorder = SpanRecorder::new();
    tracing::info_span!("unseen");
    tracing::info!("unseen");
    assert!(recorder.all_spans().is_empty());
    assert!(recorder.events().is_empty());
    assert_eq!(
        format!("{recorder:?}"),
        "SpanRecorder { spans: 0, closed: 0, events: 0, installed: false }"
    );
}

#[tokio::test]
async fn a_failing_task_is_recorded_with_its_error_event() {
    use crate::context::Context;
    use crate::runner::Func;
    use crate::task::Tasks;

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("failing");
    tasks.run(
        &Context::background(),
        Func::new(|_ctx| async { Err("boom".into()) }),
    );
    tasks.wait().await;

    let task = recorder.span("task");
    assert!(task.is_closed());
    assert_eq!(task.field("otel.name"), Some("failing"));
    assert_eq!(task.events().len(), 1);
    assert_eq!(task.events()[0].level(), Level::ERROR);
    assert_eq!(task.events()[0].field("error"), Some("boom"));
    assert!(matches!(task.status(), Status::Error(_)));
}
