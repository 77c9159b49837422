//! With `quiet_task_panics()`, every panic raised in a task's run is reported once, at the
//! line that raised it: a panic the task catches itself too, and never at another panic's
//! line. Its own binary: a panic hook is process-wide (the tests of this file take turns).
//!
//! Covers:
//! - a panic a task catches itself (`catch_unwind`, a catch-unwind layer around a future)
//!   is reported as one ERROR event with its `location` (regression: it was swallowed);
//! - `run_group` re-raising its first member's panic: the task's report is at that panic's
//!   line, not at a later member's (regression);
//! - a `resume_unwind` of a new payload is reported without a location, not at the line of
//!   a panic an earlier task caught on the same thread (regression).

mod support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_tasks::task::quiet_task_panics;
use async_tasks::testing::{RecordedEvent, SpanRecorder};
use async_tasks::{BoxError, Context, Func, Tasks, run_group};
use futures_util::FutureExt;

use support::wait_bounded;

/// How many panics reached the hook installed before `quiet_task_panics` (std's, here).
static PRINTED: AtomicUsize = AtomicUsize::new(0);

/// Runs `test` with `quiet_task_panics` installed over a counting hook (once), on a
/// current-thread runtime, in this file's turn, so that the counts are its own.
fn quietly(test: impl Future<Output = ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    INSTALL.call_once(|| {
        let std_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PRINTED.fetch_add(1, Ordering::SeqCst);
            std_hook(info); // so that a failed assertion still says why
        }));
        quiet_task_panics();
    });
    PRINTED.store(0, Ordering::SeqCst);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// The line of this file that contains `text` (once), as a `location` field starts.
fn at(text: &str) -> String {
    let line = include_str!("panic_reports.rs")
        .lines()
        .position(|line| line.contains(text) && !line.contains("at(\""))
        .expect("the text is in this file")
        + 1;
    format!("tests/tests/panic_reports.rs:{line}:")
}

/// The events that carry a `panic` field.
fn panic_events(recorder: &SpanRecorder) -> Vec<RecordedEvent> {
    recorder
        .events()
        .into_iter()
        .filter(|event| event.field("panic").is_some())
        .collect()
}

/// Regression (reliability round 3, defect 4): the hook kept the panic for a report that
/// never came (the task caught it), and did not hand it to the previous hook either: it was
/// reported nowhere.
#[test]
fn a_panic_a_task_catches_itself_is_reported_once_where_it_was_raised() {
    quietly(async {
        let recorder = SpanRecorder::install();
        let tasks = Tasks::new("svc");
        tasks.run(
            &Context::background(),
            Func::named("handler", |_ctx| async {
                let caught = std::panic::catch_unwind(|| panic!("bad request"));
                assert!(caught.is_err());
                // A catch-unwind layer around a future, as a server puts around a handler.
                let layered = AssertUnwindSafe(async { panic!("bad handler") })
                    .catch_unwind()
                    .await;
                assert!(layered.is_err());
                Ok(())
            }),
        );
        wait_bounded(&tasks).await;
        let events = panic_events(&recorder);
        let reported: Vec<_> = events
            .iter()
            .map(|event| (event.field("panic"), event.field("task")))
            .collect();
        assert_eq!(
            reported,
            [
                (Some("bad request"), Some("handler")),
                (Some("bad handler"), Some("handler")),
            ],
            "{}",
            recorder.tree()
        );
        let location = |i: usize| events[i].field("location").unwrap_or_default().to_owned();
        assert!(
            location(0).starts_with(&at("panic!(\"bad request\")")),
            "{}",
            location(0)
        );
        assert!(
            location(1).starts_with(&at("panic!(\"bad handler\")")),
            "{}",
            location(1)
        );
        assert_eq!(PRINTED.load(Ordering::SeqCst), 0, "reported, not printed");
        // The run itself went on and finished: nothing else is reported.
        assert_eq!(recorder.events().len(), 2, "{}", recorder.tree());
    });
}

/// Regression (reliability round 3, defect 7): the hook kept the location of the last panic
/// on the thread, and the next report took it: the group's second member's panic replaced
/// the first one's location before the group re-raised the first panic.
#[test]
fn a_group_re_raising_its_first_panic_is_reported_at_that_panics_line() {
    quietly(async {
        let recorder = SpanRecorder::install();
        let tasks = Tasks::new("svc");
        let group = run_group(vec![
            Box::new(Func::new(|_ctx| async { panic!("first member") })),
            Box::new(Func::new(|ctx: Context| async move {
                ctx.done().await; // stopped by the first member's panic
                panic!("second member")
            })),
        ]);
        tasks.run(&Context::background(), group);
        wait_bounded(&tasks).await;
        let events = panic_events(&recorder);
        let by_message = |message: &str| {
            events
                .iter()
                .find(|event| event.field("panic") == Some(message))
                .unwrap_or_else(|| panic!("no event for {message:?}: {}", recorder.tree()))
                .clone()
        };
        let report = by_message("first member");
        let location = report.field("location").unwrap_or_default();
        assert!(
            location.starts_with(&at("panic!(\"first member\")")),
            "the group's panic is reported at {location}"
        );
        let later = by_message("second member");
        let location = later.field("location").unwrap_or_default();
        assert!(
            location.starts_with(&at("panic!(\"second member\")")),
            "the later member's panic is reported at {location}"
        );
        assert_eq!(events.len(), 2, "{}", recorder.tree());
    });
}

/// Regression (reliability round 3, defect 7): a panic a task caught left its location on
/// the thread, and the report of a later task's `resume_unwind` (which calls no hook) took
/// it.
#[test]
fn a_resumed_payload_is_not_reported_at_an_earlier_caught_panics_line() {
    quietly(async {
        let recorder = SpanRecorder::install();
        let tasks = Tasks::new("svc");
        tasks.run(
            &Context::background(),
            Func::named("catcher", |_ctx| async {
                let _ = std::panic::catch_unwind(|| panic!("caught here"));
                Ok::<_, BoxError>(())
            }),
        );
        wait_bounded(&tasks).await;
        // The same thread (a current-thread runtime), after the first task's run.
        tasks.run(
            &Context::background(),
            Func::named("resumer", |_ctx| async {
                std::panic::resume_unwind(Box::new("resumed"))
            }),
        );
        wait_bounded(&tasks).await;
        let events = panic_events(&recorder);
        let resumed = events
            .iter()
            .find(|event| event.field("panic") == Some("resumed"))
            .unwrap_or_else(|| panic!("no report of the resumed panic: {}", recorder.tree()));
        assert_eq!(
            resumed.field("location"),
            None,
            "a payload resumed without a hook has no location"
        );
        // A payload caught and resumed as it is keeps the location of its panic.
        tasks.run(
            &Context::background(),
            Func::named("rethrower", |_ctx| async {
                let payload = std::panic::catch_unwind(|| panic!("thrown again")).unwrap_err();
                std::panic::resume_unwind(payload)
            }),
        );
        wait_bounded(&tasks).await;
        let events = panic_events(&recorder);
        let again: Vec<_> = events
            .iter()
            .filter(|event| event.field("panic") == Some("thrown again"))
            .collect();
        assert_eq!(again.len(), 1, "reported once: {}", recorder.tree());
        let location = again[0].field("location").unwrap_or_default();
        assert!(
            location.starts_with(&at("panic!(\"thrown again\")")),
            "{location}"
        );
        assert_eq!(PRINTED.load(Ordering::SeqCst), 0);
    });
}

/// A task that catches more panics in one poll than are kept: the last ones are reported
/// each, the others counted, and nothing is left for a later report.
#[test]
fn many_panics_caught_in_one_poll_are_reported_and_counted() {
    quietly(async {
        let recorder = SpanRecorder::install();
        let tasks = Tasks::new("svc");
        tasks.run(
            &Context::background(),
            Func::named("looper", |_ctx| async {
                for i in 0..20 {
                    let _ = std::panic::catch_unwind(|| panic!("item {i}"));
                }
                Ok::<_, BoxError>(())
            }),
        );
        wait_bounded(&tasks).await;
        let caught: Vec<_> = panic_events(&recorder)
            .iter()
            .map(|event| event.field("panic").unwrap_or_default().to_owned())
            .collect();
        let last: Vec<_> = (4..20).map(|i| format!("item {i}")).collect();
        assert_eq!(caught, last, "{}", recorder.tree());
        let counted: Vec<_> = recorder
            .events()
            .into_iter()
            .filter_map(|event| event.field("panics").map(str::to_owned))
            .collect();
        assert_eq!(counted, ["4"], "{}", recorder.tree());
        assert_eq!(PRINTED.load(Ordering::SeqCst), 0);
    });
}
