//! `quiet_task_panics`: a task's panic goes to its report only (with its `location`), every
//! other panic to the hook installed before. Its own binary: a panic hook is process-wide.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_tasks::task::quiet_task_panics;
use async_tasks::testing::SpanRecorder;
use async_tasks::{Context, Func, Tasks};

use support::{LIMIT, wait_bounded};

#[tokio::test]
async fn a_task_panic_is_only_reported_and_says_where_other_panics_reach_the_previous_hook() {
    let printed = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&printed);
    let std_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        std_hook(info); // so that a failed assertion of this test still says why
    }));
    quiet_task_panics();
    quiet_task_panics(); // a second call must change nothing

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run(
        &Context::background(),
        Func::named("buggy", |_ctx| async { panic!("index out of bounds") }),
    );
    wait_bounded(&tasks).await;
    assert_eq!(
        printed.load(Ordering::SeqCst),
        0,
        "the task's panic was printed"
    );
    let events = recorder.events();
    assert_eq!(events.len(), 1, "{}", recorder.tree());
    assert_eq!(events[0].field("panic"), Some("index out of bounds"));
    let location = events[0].field("location").expect("no location");
    let line = include_str!("panic_hook.rs")
        .lines()
        .position(|text| text.contains("panic!(\"index out of bounds\")"))
        .unwrap()
        + 1;
    assert!(
        location.starts_with(&format!("tests/tests/panic_hook.rs:{line}:")),
        "{location}"
    );

    // Outside a task's run: the previous hook, once per panic.
    let plain = tokio::spawn(async { panic!("in a plain tokio task") });
    assert!(tokio::time::timeout(LIMIT, plain).await.unwrap().is_err());
    let blocking = tokio::task::spawn_blocking(|| panic!("on a blocking thread"));
    assert!(
        tokio::time::timeout(LIMIT, blocking)
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(printed.load(Ordering::SeqCst), 2);
    // Nothing more was reported: those panics had no set.
    assert_eq!(recorder.events().len(), 1);
    let _ = std::panic::take_hook();
}
