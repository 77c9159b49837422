//! What a set says about its runs: the failure events, and the `Display` of
//! `ShutdownReport` and `ShutdownTimeout`.
//!
//! Covers:
//! - a failed run of every kind (`run` named and unnamed, `run_background`, a loop, a pool
//!   run, in a root set and in a child) is one ERROR event with target `async_tasks`, fields
//!   `task` (the runner's name or the set's), `tasks` (the set's path), `error`, and the
//!   message `task "NAME" failed: ERROR`; a loop's has its `iteration`; a panic has `panic`;
//! - a loop failure the policy retries is one WARN event with `attempt` and `retry_in` (to the
//!   millisecond), `task "NAME" failed: ERROR (retrying in 2s)`; the one after which it
//!   gives up one ERROR event, `... (3 failures in a row, giving up)`;
//! - an anyhow error: a cancellation through it is no failure, a failure reads its chain;
//! - `ShutdownReport`'s `Display`: the cause line first, counts, a handful of names of each
//!   list and "and N more", unnamed runs still running; `failed` and `panicked` during the
//!   grace period name their error;
//! - `ShutdownTimeout`'s `Display` names a handful of stragglers then "and N more", a child's
//!   after its path; an unnamed run of a child by the child's name;
//! - a report counts a child's unnamed runs (`unlisted_finished`, `unlisted_running`);
//! - two reports on one set at once both name every task.

mod support;

use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::task::{LoopPolicy, OnFailure};
use async_tasks::testing::{RecordedEvent, SpanRecorder};
use async_tasks::{BoxError, Context, Func, Runner, Tasks, async_task};
use tokio::time::timeout;
use tracing::Level;

use support::{LIMIT, named_stubborn, named_until_done, stubborn, wait_bounded, well_behaved};

/// `(level, task, tasks, error or panic, message)` of an event.
fn summary(e: &RecordedEvent) -> (Level, String, String, String, String) {
    let field = |name: &str| e.field(name).unwrap_or("<none>").to_owned();
    let what = e.field("error").or(e.field("panic")).unwrap_or("<none>");
    (
        e.level(),
        field("task"),
        field("tasks"),
        what.to_owned(),
        field("message"),
    )
}

#[tokio::test]
async fn a_failure_of_every_kind_of_run_is_one_error_event_that_names_it() {
    let recorder = SpanRecorder::install();
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let pool = jobs.pool("pool", 2);
    let ctx = Context::background();
    svc.run(
        &ctx,
        Func::named("named", |_ctx| async { Err("e1".into()) }),
    );
    svc.run(&ctx, Func::new(|_ctx| async { Err("e2".into()) }));
    jobs.run_background(&ctx, Func::named("bg", |_ctx| async { Err("e3".into()) }));
    jobs.run_loop(
        &ctx,
        Func::named("looped", |_ctx| async { Err("e4".into()) }),
    );
    pool.run(&ctx, Func::new(|_ctx| async { Err("e5".into()) }))
        .await
        .unwrap();
    jobs.run(&ctx, Func::named("buggy", |_ctx| async { panic!("p6") }));
    wait_bounded(&svc).await;

    let events = recorder.events();
    assert!(events.iter().all(|e| e.target() == "async_tasks"));
    let mut seen: Vec<_> = events.iter().map(summary).collect();
    seen.sort_by(|a, b| a.3.cmp(&b.3));
    let row = |task: &str, tasks: &str, what: &str, message: &str| {
        (
            Level::ERROR,
            task.to_owned(),
            tasks.to_owned(),
            what.to_owned(),
            message.to_owned(),
        )
    };
    assert_eq!(
        seen,
        [
            row("named", "svc", "e1", "task \"named\" failed: e1"),
            row("svc", "svc", "e2", "task \"svc\" failed: e2"),
            row("bg", "svc/jobs", "e3", "task \"bg\" failed: e3"),
            row("looped", "svc/jobs", "e4", "task \"looped\" failed: e4"),
            row("pool", "svc/jobs/pool", "e5", "task \"pool\" failed: e5"),
            row("buggy", "svc/jobs", "p6", "task \"buggy\" panicked: p6"),
        ]
    );
    let looped = events.iter().find(|e| e.field("task") == Some("looped"));
    assert_eq!(looped.unwrap().field("iteration"), Some("1"));
}

#[tokio::test(start_paused = true)]
async fn a_retried_loop_failure_is_a_warning_and_the_give_up_an_error() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run_loop_with(
        &Context::background(),
        Func::named("poller", |_ctx| async { Err("upstream down".into()) }),
        LoopPolicy::new()
            .on_error(ConstantBuilder::default().with_delay(Duration::from_secs(2)))
            .max_failures(3),
    );
    wait_bounded(&tasks).await;

    let events = recorder.events();
    assert_eq!(events.len(), 3, "{}", recorder.tree());
    let levels: Vec<_> = events.iter().map(RecordedEvent::level).collect();
    assert_eq!(levels, [Level::WARN, Level::WARN, Level::ERROR]);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.target(), "async_tasks");
        assert_eq!(e.field("task"), Some("poller"));
        assert_eq!(e.field("tasks"), Some("svc"));
        assert_eq!(e.field("error"), Some("upstream down"));
        assert_eq!(e.field("iteration"), Some(&*(i + 1).to_string()));
    }
    let messages: Vec<_> = events.iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(
        messages,
        [
            "task \"poller\" failed: upstream down (retrying in 2s)",
            "task \"poller\" failed: upstream down (retrying in 2s)",
            "task \"poller\" failed: upstream down (3 failures in a row, giving up)",
        ]
    );
    // Each event names the attempt that failed, 1 for the first failure in a row.
    let attempts: Vec<_> = events.iter().map(|e| e.field("attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2"), Some("3")]);
    let retry_in: Vec<_> = events.iter().map(|e| e.field("retry_in")).collect();
    assert_eq!(retry_in, [Some("2s"), Some("2s"), None]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_pause_reads_to_the_millisecond() {
    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    tasks.run_loop_with(
        &Context::background(),
        Func::named("poller", |_ctx| async { Err("down".into()) }),
        LoopPolicy::new()
            .on_error(ConstantBuilder::default().with_delay(Duration::from_micros(1_500_006)))
            .max_failures(2),
    );
    wait_bounded(&tasks).await;
    let first = &recorder.events()[0];
    assert_eq!(first.field("retry_in"), Some("1.5s"));
    assert_eq!(
        first.message(),
        Some("task \"poller\" failed: down (retrying in 1.5s)")
    );
}

/// anyhow's `Error`, boxed, hides the type of what it wraps: a cancellation returned through
/// it is still a cancellation, and a failure's report reads its whole chain of contexts.
#[tokio::test]
async fn an_anyhow_error_is_judged_and_reported_like_any_other() {
    use anyhow::Context as _;

    let recorder = SpanRecorder::install();
    let tasks = Tasks::new("svc");
    let ctx = Context::background();
    let (canceled, cancel) = ctx.with_cancel();
    tasks.run(
        &canceled,
        Func::named("waits", |ctx: Context| async move {
            ctx.done().await;
            let err: anyhow::Error = ctx.err().unwrap().into();
            Err(err.into())
        }),
    );
    tasks.run(
        &ctx,
        Func::named("fetches", |_ctx| async {
            let refused: anyhow::Result<()> = Err(anyhow::anyhow!("connection refused"));
            let err = refused
                .context("connecting to db")
                .context("fetching page 3")
                .unwrap_err();
            Err(err.into())
        }),
    );
    cancel.cancel();
    wait_bounded(&tasks).await;

    let events = recorder.events();
    assert_eq!(events.len(), 1, "{}", recorder.tree());
    assert_eq!(events[0].field("task"), Some("fetches"));
    assert_eq!(
        events[0].field("error"),
        Some("fetching page 3: connecting to db: connection refused")
    );
}

/// A runner that ends 100 ms after its context is done, as `end` says (`Err("panic")`
/// panics).
fn slow_to_end(name: Option<&'static str>, end: Result<(), &'static str>) -> Box<dyn Runner> {
    let f = move |ctx: Context| async move {
        ctx.done().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        match end {
            Err("panic") => panic!("on the way out"),
            Err(err) => Err(err.into()),
            Ok(()) => Ok(()),
        }
    };
    match name {
        Some(name) => Box::new(Func::named(name, f)),
        None => Box::new(Func::new(f)),
    }
}

#[tokio::test(start_paused = true)]
async fn a_report_reads_cause_first_then_a_handful_of_names_of_each_list() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs").on_failure(OnFailure::ShutdownRoot);
    let ctx = Context::background();
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        tasks.run(&ctx, named_stubborn(name));
    }
    // Each ends a moment after it is canceled: during the report's grace period, as the
    // failure shuts the set down before the report starts.
    for name in ["f1", "f2"] {
        tasks.run(&ctx, slow_to_end(Some(name), Err("cleanup failed")));
    }
    tasks.run(&ctx, slow_to_end(Some("p"), Err("panic")));
    tasks.run(&ctx, slow_to_end(Some("ok"), Ok(())));
    tasks.run(&ctx, slow_to_end(None, Ok(())));
    tasks.run(&ctx, stubborn());
    jobs.run(
        &ctx,
        Func::named("db", |_ctx| async { Err("refused".into()) }),
    );
    timeout(LIMIT, tasks.context().done()).await.unwrap();

    let report = timeout(LIMIT, tasks.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 2);
    assert!(report.failed.iter().all(|f| f.error == "cleanup failed"));
    assert_eq!(report.panicked.len(), 1);
    assert_eq!(report.panicked[0].to_string(), "p: on the way out");
    assert_eq!((report.unlisted_finished, report.unlisted_running), (1, 1));
    // The failures are listed in the order they happened, which the test does not fix.
    let failed: Vec<_> = report.failed.iter().map(ToString::to_string).collect();
    let mut sorted = failed.clone();
    sorted.sort();
    assert_eq!(sorted, ["f1: cleanup failed", "f2: cleanup failed"]);
    assert_eq!(
        report.to_string(),
        format!(
            "shut down by jobs/db: refused\n\
             2 finished (ok, 1 unnamed), 0 canceled, 2 failed ({}), 1 panicked (p: on the way out), \
             7 aborted (a, b, c, d, e and 2 more), 1 unnamed still running",
            failed.join(", ")
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_clean_report_reads_as_counts_only() {
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), named_until_done("a"));
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    assert!(report.is_clean());
    assert_eq!(
        report.to_string(),
        "1 finished (a), 0 canceled, 0 failed, 0 panicked, 0 aborted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_names_a_handful_of_stragglers_then_counts_the_rest() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs");
    let ctx = Context::background();
    for name in ["a", "b", "c", "d"] {
        tasks.run(&ctx, named_stubborn(name));
    }
    for name in ["x", "y", "z"] {
        jobs.run(&ctx, named_stubborn(name));
    }
    let err = timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.running(), 7);
    assert_eq!(
        err.names(),
        ["a", "b", "c", "d", "jobs/x", "jobs/y", "jobs/z"]
    );
    assert_eq!(
        err.to_string(),
        "shutdown of tasks `svc` timed out with 7 tasks still running: a, b, c, d, jobs/x and 2 more"
    );
    // On the child alone: bare names, and its path as the set.
    let err = jobs.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.tasks_name(), "svc/jobs");
    assert_eq!(err.names(), ["x", "y", "z"]);
    tasks.shutdown_report(Duration::from_secs(1)).await;
}

/// `ShutdownTimeout`'s docs: "each by its name, as `ShutdownReport` names tasks", and
/// `ShutdownReport`'s: "`jobs` for one of its unnamed runs" (of `tasks.child("jobs")`).
#[tokio::test(start_paused = true)]
async fn a_timeout_names_an_unnamed_run_of_a_child_after_the_child() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs");
    tasks.run(&Context::background(), stubborn());
    jobs.run(&Context::background(), stubborn());
    let err = timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.names(), ["jobs", "svc"]);
}

#[tokio::test(start_paused = true)]
async fn a_report_counts_the_unnamed_runs_of_its_children() {
    let tasks = Tasks::new("svc");
    let jobs = tasks.child("jobs");
    let ctx = Context::background();
    jobs.run(&ctx, well_behaved());
    jobs.run(&ctx, well_behaved());
    jobs.child("deep").run(&ctx, stubborn());
    tokio::task::yield_now().await;
    let report = timeout(LIMIT, tasks.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!((report.unlisted_finished, report.unlisted_running), (2, 1));
    assert!(!report.is_clean());
    assert!(report.to_string().ends_with(", 1 unnamed still running"));
    // Unnamed runs cannot be aborted: the stubborn one is still there.
    assert_eq!(tasks.running(), 1);
}

#[tokio::test(start_paused = true)]
async fn two_reports_on_one_set_at_once_both_say_everything() {
    let tasks = Tasks::new("svc");
    let ctx = Context::background();
    tasks.run(&ctx, named_until_done("server"));
    tasks.run(&ctx, named_stubborn("stuck"));
    tokio::task::yield_now().await;
    let (first, second) = timeout(LIMIT, async {
        tokio::join!(
            tasks.shutdown_report(Duration::from_secs(1)),
            tasks.shutdown_report(Duration::from_secs(2)),
        )
    })
    .await
    .unwrap();
    for report in [&first, &second] {
        assert_eq!(report.finished, ["server"], "{report:?}");
        assert_eq!(report.aborted, ["stuck"], "{report:?}");
    }
    assert_eq!(tasks.running(), 0);
}

/// An event's message, and the names of the spans it sits in, innermost first.
type Scoped = (String, Vec<&'static str>);

/// Keeps each event's message and the names of the spans it sits in.
#[derive(Clone, Default)]
struct EventScopes(std::sync::Arc<std::sync::Mutex<Vec<Scoped>>>);

impl<S> tracing_subscriber::Layer<S> for EventScopes
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push((message.0, scope));
    }
}

#[async_task(name = "quiet-step", level = "debug")]
async fn quiet_step(_ctx: Context) -> Result<(), BoxError> {
    Err("upstream said no".into())
}

#[tokio::test]
async fn a_failure_whose_call_span_is_filtered_out_sits_in_the_runs_span() {
    use tracing_subscriber::layer::SubscriberExt;
    let scopes = EventScopes::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(scopes.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let tasks = Tasks::new("svc");
    tasks.run(&Context::background(), quiet_step());
    wait_bounded(&tasks).await;
    let events = scopes.0.lock().unwrap().clone();
    let failure = events
        .iter()
        .find(|(message, _)| message.contains("failed"))
        .expect("the failure is reported");
    assert_eq!(
        failure.0, "task \"quiet-step\" failed: upstream said no",
        "{events:?}"
    );
    // The DEBUG call span is disabled: the event sits in the run's enabled `task` span, so
    // that a console line still says which task failed.
    assert_eq!(failure.1, ["task"], "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn a_job_a_shutdown_cut_off_is_canceled_not_finished() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let ctx = Context::background();
    // A 10 s job that honours its context, a loop whose iteration does too, and one that
    // finishes in time.
    let job = jobs.spawn(&ctx, "job-1", |ctx| async move {
        async_tasks::sleep(&ctx, Duration::from_secs(10)).await?;
        Ok::<_, BoxError>(())
    });
    svc.run_loop(
        &ctx,
        Func::named("poller", |ctx| async move {
            async_tasks::sleep(&ctx, Duration::from_secs(60)).await?;
            Ok(())
        }),
    );
    svc.run(
        &ctx,
        Func::named("quick", |_ctx| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        }),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(job.await.unwrap_err().is_canceled());
    let mut canceled = report.canceled.clone();
    canceled.sort();
    assert_eq!(canceled, ["jobs/job-1", "poller"]);
    assert!(
        report.finished.is_empty(),
        "quick ended before the report: {report:?}"
    );
    // Named like the others, in the order they ended.
    let line = report.to_string();
    assert!(
        line == "0 finished, 2 canceled (jobs/job-1, poller), 0 failed, 0 panicked, 0 aborted"
            || line
                == "0 finished, 2 canceled (poller, jobs/job-1), 0 failed, 0 panicked, 0 aborted",
        "{line}"
    );
}

/// A two-step shutdown — the HTTP child drained first (stop accepting), then the jobs,
/// then a report on the root — is reported whole: the report covers what ended since the
/// first close of any set of the tree, not only since its own drain.
#[tokio::test(start_paused = true)]
async fn a_report_covers_the_whole_shutdown_from_the_first_close_in_the_tree() {
    let svc = Tasks::new("svc");
    let http = svc.child("http");
    let jobs = svc.child("jobs");
    let ctx = Context::background();
    http.run(&ctx, named_until_closing("server"));
    jobs.run(&ctx, named_until_closing("dispatcher"));
    svc.run(&ctx, named_until_closing("poller"));
    // A child closed alone, then dropped before the report: what ended there still counts.
    let scratch = svc.child("scratch");
    scratch.run(&ctx, named_until_closing("warmup"));

    timeout(LIMIT, http.drain(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    scratch.close();
    wait_bounded(&scratch).await;
    drop(scratch);
    tokio::time::sleep(Duration::from_secs(1)).await;
    jobs.close(); // closed, not drained: the dispatcher ends on its own afterwards
    wait_bounded(&jobs).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(5)))
        .await
        .unwrap();
    let mut finished = report.finished.clone();
    finished.sort();
    assert_eq!(
        finished,
        ["http/server", "jobs/dispatcher", "poller", "scratch/warmup"],
        "{report}"
    );
    // Taken by the report: a later report starts afresh.
    let again = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(again.finished.is_empty(), "{again}");
}

/// A child's report names what ended in it since its parent's close too, which the
/// parent's own report still names.
#[tokio::test(start_paused = true)]
async fn a_childs_report_sees_what_its_parents_close_recorded() {
    let svc = Tasks::new("svc");
    let jobs = svc.child("jobs");
    let ctx = Context::background();
    jobs.run(&ctx, named_until_closing("early"));
    svc.close();
    wait_bounded(&jobs).await;
    let child = timeout(LIMIT, jobs.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(child.finished, ["early"], "{child}");
    let parent = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(parent.finished, ["jobs/early"], "{parent}");
}

/// A closed set may go on running one-shot work for long: its record names a bounded
/// number of endings and counts the rest.
#[tokio::test(start_paused = true)]
async fn a_shutdown_record_is_bounded_and_counts_what_it_cannot_name() {
    let svc = Tasks::new("svc");
    svc.close();
    let ctx = Context::background();
    const RUNS: usize = 16_384 + 100;
    for _ in 0..RUNS {
        svc.run(&ctx, Func::named("job", |_ctx| async { Ok(()) }));
    }
    wait_bounded(&svc).await;
    let report = timeout(LIMIT, svc.shutdown_report(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(report.finished.len(), 16_384);
    assert_eq!(report.unlisted_finished, 100, "counted, not named");
}

/// A named runner that returns once its set starts to close.
fn named_until_closing(name: &'static str) -> impl Runner {
    Func::named(name, |ctx| async move {
        ctx.closing().await;
        Ok(())
    })
}
