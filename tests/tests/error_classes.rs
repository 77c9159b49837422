//! Error classes (`Tasks::with_error_classes`): a WARN class reports a warning and leaves
//! the span's status unset, an IGNORE class reports nothing, the default stays an error;
//! `#[async_task]` call spans follow the class of the set running them; panics are always
//! errors; and the class changes only the report, not whether the run failed.

use std::time::Duration;

use async_tasks::task::ErrorClass;
use async_tasks::testing::{SpanRecorder, Status};
use async_tasks::{BoxError, Context, Func, Tasks, async_task};

#[derive(Debug)]
enum ApiError {
    NotFound,
    Expected,
    Upstream,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApiError::NotFound => "user not found",
            ApiError::Expected => "nothing to do",
            ApiError::Upstream => "upstream returned 503",
        })
    }
}

impl std::error::Error for ApiError {}

fn classes(err: &(dyn std::error::Error + 'static)) -> ErrorClass {
    match err.downcast_ref::<ApiError>() {
        Some(ApiError::NotFound) => ErrorClass::Warn,
        Some(ApiError::Expected) => ErrorClass::Ignore,
        Some(ApiError::Upstream) | None => ErrorClass::Error,
    }
}

fn failing(
    err: fn() -> ApiError,
) -> Func<impl Fn(Context) -> std::future::Ready<Result<(), BoxError>>> {
    Func::new(move |_ctx| std::future::ready(Err(err().into())))
}

async fn run_once(tasks: &Tasks, runner: impl async_tasks::Runner + 'static) {
    tasks.run(&Context::background(), runner);
    tokio::time::timeout(Duration::from_secs(5), tasks.wait())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_warn_class_is_a_warning_and_leaves_the_status_unset() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("api").with_error_classes(classes);
    run_once(&tasks, failing(|| ApiError::NotFound)).await;
    let task = recorder.span("task");
    let events = task.events();
    assert_eq!(events.len(), 1, "{}", recorder.tree());
    assert_eq!(events[0].level(), tracing::Level::WARN);
    assert_eq!(events[0].field("error"), Some("user not found"));
    assert_eq!(task.status(), Status::Unset);
}

#[tokio::test]
async fn an_ignore_class_is_not_reported_at_all() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("api").with_error_classes(classes);
    run_once(&tasks, failing(|| ApiError::Expected)).await;
    assert!(recorder.events().is_empty(), "{}", recorder.tree());
    assert_eq!(recorder.span("task").status(), Status::Unset);
}

#[tokio::test]
async fn the_error_class_and_sets_without_classes_report_errors() {
    let recorder = SpanRecorder::install();
    let classified = Tasks::new("api").with_error_classes(classes);
    let plain = Tasks::new("plain");
    run_once(&classified, failing(|| ApiError::Upstream)).await;
    // The same error that `classes` would call a warning is an error elsewhere.
    run_once(&plain, failing(|| ApiError::NotFound)).await;
    let spans = recorder.spans_named("task");
    assert_eq!(spans.len(), 2);
    for span in spans {
        let events = span.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].level(), tracing::Level::ERROR);
        assert!(matches!(span.status(), Status::Error(_)));
    }
}

#[tokio::test]
async fn panics_are_errors_whatever_the_classes() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("api").with_error_classes(|_| ErrorClass::Ignore);
    run_once(&tasks, Func::new(|_ctx| async { panic!("bug") })).await;
    let events = recorder.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].level(), tracing::Level::ERROR);
    assert_eq!(events[0].field("panic"), Some("bug"));
}

#[tokio::test]
async fn an_ignored_error_still_ends_a_loop() {
    let tasks = Tasks::new("api").with_error_classes(|_| ErrorClass::Ignore);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = runs.clone();
    tasks.run_loop(
        &Context::background(),
        Func::new(move |_ctx| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(Err(ApiError::Expected.into()))
        }),
    );
    tokio::time::timeout(Duration::from_secs(5), tasks.wait())
        .await
        .unwrap();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[async_task(name = "lookup-user")]
async fn lookup_user(_ctx: Context, not_found: bool) -> Result<(), ApiError> {
    if not_found {
        Err(ApiError::NotFound)
    } else {
        Err(ApiError::Expected)
    }
}

#[tokio::test]
async fn call_spans_follow_the_class_of_the_set_running_them() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("api").with_error_classes(classes);
    run_once(&tasks, lookup_user(true)).await;
    run_once(&tasks, lookup_user(false)).await;
    let calls = recorder.spans_named("lookup-user");
    assert_eq!(calls.len(), 2);
    // Warn: the error is on the span, the status is not.
    assert_eq!(calls[0].field("error"), Some("user not found"));
    assert_eq!(calls[0].status(), Status::Unset);
    // Ignore: nothing recorded.
    assert_eq!(calls[1].field("error"), None);
    assert_eq!(calls[1].status(), Status::Unset);
}

/// Regression (reliability round 2): the classes lived in a process-wide map entry that went
/// with the last `Tasks` handle, while the set's runs went on and then reported as errors.
#[tokio::test]
async fn classes_outlive_the_last_handle_for_the_runs_still_going() {
    let recorder = SpanRecorder::install();
    let (go, wait_for_go) = tokio::sync::oneshot::channel::<()>();
    let (ended, has_ended) = tokio::sync::oneshot::channel::<()>();
    /// Says so when dropped: the task drops its runner once its run is reported.
    struct Ended(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for Ended {
        fn drop(&mut self) {
            if let Some(ended) = self.0.take() {
                let _ = ended.send(());
            }
        }
    }
    let ended = Ended(Some(ended));
    let wait_for_go = std::sync::Mutex::new(Some(wait_for_go));
    let tasks = Tasks::new("api").with_error_classes(|_| ErrorClass::Ignore);
    tasks.run(
        &Context::background(),
        Func::new(move |_ctx| {
            let _ended = &ended;
            let go = wait_for_go.lock().unwrap().take();
            async move {
                if let Some(go) = go {
                    let _ = go.await;
                }
                Err::<(), BoxError>("expected, and classed as nothing".into())
            }
        }),
    );
    drop(tasks);
    go.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), has_ended)
        .await
        .expect("the run ends")
        .unwrap();
    assert!(recorder.events().is_empty(), "{}", recorder.tree());
    assert_eq!(recorder.span("task").status(), Status::Unset);
}

#[tokio::test]
async fn classes_given_again_replace_the_earlier_ones() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("api")
        .with_error_classes(|_| ErrorClass::Ignore)
        .with_error_classes(classes);
    run_once(&tasks, failing(|| ApiError::NotFound)).await;
    let levels: Vec<_> = recorder.events().iter().map(|e| e.level()).collect();
    assert_eq!(levels, [tracing::Level::WARN], "{}", recorder.tree());
}
