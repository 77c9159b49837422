//! The `metrics` feature, read back through `metrics-util`'s `DebuggingRecorder`, installed
//! as the test thread's local recorder (every test runs on a current-thread runtime).
//!
//! Covers:
//! - every run counts as started and as finished with its `outcome` (`ok`, `error`,
//!   `panic`, `canceled`), and its duration (exact, on the paused clock) lands in the
//!   histogram of the same labels: `tasks` (the `Tasks`' name) and `task` (the runner's
//!   name, or the `Tasks`' name without one), for `run`, `run_background` and the free fns;
//! - a deadline error is an `error`, a (wrapped) cancellation is `canceled`;
//! - each `run_loop` iteration is a run, whether the loop ends by an error or by its context;
//! - the running gauge counts a task from the moment `run*()` returns (a loop once) and goes
//!   back to zero when the tasks end, and also when their runtime is dropped under them;
//! - `#[async_task]` calls are timed by call name and outcome, also nested and panicking;
//! - a singleton's terms and losses are counted by lease (and reason), and the leading
//!   gauge counts the replicas of the process that lead, even two of them in one process;
//! - every metric is described with its unit.
//!
//! Run with `cargo test -p async-tasks-tests --features metrics --test metrics`.

use std::collections::HashMap;
use std::fmt;
use std::future::pending;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::{BoxError, Context, Func, Runner, Tasks, async_task};
use futures_util::FutureExt;
use metrics::{LocalRecorderGuard, SharedString, Unit};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio::time::{sleep, timeout};

const LIMIT: Duration = Duration::from_secs(3600);

const STARTED: &str = "async_tasks_runs_started_total";
const FINISHED: &str = "async_tasks_runs_finished_total";
const DURATION: &str = "async_tasks_run_duration_seconds";
const RUNNING: &str = "async_tasks_running";
const CALL_DURATION: &str = "async_tasks_call_duration_seconds";

async fn wait_bounded(tasks: &Tasks) {
    timeout(LIMIT, tasks.wait())
        .await
        .expect("Tasks::wait did not return");
}

/// One series: kind, name, and labels sorted by key.
type Series = (MetricKind, String, Vec<(String, String)>);

/// What a fresh `DebuggingRecorder` saw while it was this thread's recorder (as long as
/// this value lives).
///
/// Its snapshots take what they read (counters and gauges are reset to zero, histograms
/// drained), so this adds them up: values are totals since the start.
struct Recorded {
    snapshotter: Snapshotter,
    counters: HashMap<Series, u64>,
    gauges: HashMap<Series, f64>,
    histograms: HashMap<Series, Vec<f64>>,
    descriptions: HashMap<(MetricKind, String), (Option<Unit>, Option<SharedString>)>,
    _guard: LocalRecorderGuard<'static>,
}

impl Recorded {
    fn start() -> Recorded {
        // Leaked so that the guard can live in the same value; one small recorder per test.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::default());
        Recorded {
            snapshotter: recorder.snapshotter(),
            counters: HashMap::new(),
            gauges: HashMap::new(),
            histograms: HashMap::new(),
            descriptions: HashMap::new(),
            _guard: metrics::set_default_local_recorder(recorder),
        }
    }

    fn take(&mut self) {
        for (key, unit, description, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            labels.sort();
            let name = key.name().to_owned();
            self.descriptions
                .insert((kind, name.clone()), (unit, description));
            let series = (kind, name, labels);
            match value {
                DebugValue::Counter(n) => *self.counters.entry(series).or_default() += n,
                DebugValue::Gauge(x) => *self.gauges.entry(series).or_default() += x.0,
                DebugValue::Histogram(xs) => self
                    .histograms
                    .entry(series)
                    .or_default()
                    .extend(xs.into_iter().map(|x| x.0)),
            }
        }
    }

    fn series(kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Series {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        labels.sort();
        (kind, name.to_owned(), labels)
    }

    /// The counter's total (0 if it never was registered).
    fn counter(&mut self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.take();
        let series = Self::series(MetricKind::Counter, name, labels);
        self.counters.get(&series).copied().unwrap_or_default()
    }

    /// The gauge's value, or `None` if it never was registered.
    fn gauge(&mut self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.take();
        let series = Self::series(MetricKind::Gauge, name, labels);
        self.gauges.get(&series).copied()
    }

    /// The histogram's values, sorted.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.take();
        let series = Self::series(MetricKind::Histogram, name, labels);
        let mut values = self.histograms.get(&series).cloned().unwrap_or_default();
        values.sort_by(f64::total_cmp);
        values
    }

    /// Every series of `name` with a non-zero total, as `labels => total`, sorted.
    fn counters_of(&mut self, name: &str) -> Vec<String> {
        self.take();
        let mut found: Vec<String> = self
            .counters
            .iter()
            .filter(|((_, n, _), total)| n == name && **total > 0)
            .map(|((_, _, labels), total)| format!("{} => {total}", Labels(labels)))
            .collect();
        found.sort();
        found
    }
}

/// Labels as `k=v,k=v`.
struct Labels<'a>(&'a [(String, String)]);

impl fmt::Display for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&pairs.join(","))
    }
}

fn sleeper(secs: u64) -> impl Runner + use<> {
    Func::new(move |_ctx| async move {
        sleep(Duration::from_secs(secs)).await;
        Ok(())
    })
}

#[tokio::test(start_paused = true)]
async fn runs_are_counted_and_timed_by_tasks_and_runner_name() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("jobs");
    let ctx = Context::background();
    tasks.run(&ctx, sleeper(1));
    tasks.run_background(&ctx, sleeper(3));
    tasks.run(
        &ctx,
        Func::named("sync", |_ctx| async {
            sleep(Duration::from_secs(2)).await;
            Ok(())
        }),
    );
    wait_bounded(&tasks).await;

    let unnamed = [("tasks", "jobs"), ("task", "jobs")];
    let named = [("tasks", "jobs"), ("task", "sync")];
    assert_eq!(recorded.counter(STARTED, &unnamed), 2);
    assert_eq!(recorded.counter(STARTED, &named), 1);
    assert_eq!(
        recorded.counters_of(FINISHED),
        [
            "outcome=ok,task=jobs,tasks=jobs => 2",
            "outcome=ok,task=sync,tasks=jobs => 1",
        ]
    );
    let ok = ("outcome", "ok");
    let (unnamed_ok, named_ok) = ([unnamed[0], unnamed[1], ok], [named[0], named[1], ok]);
    assert_eq!(recorded.histogram(DURATION, &unnamed_ok), [1.0, 3.0]);
    assert_eq!(recorded.histogram(DURATION, &named_ok), [2.0]);
    assert_eq!(recorded.gauge(RUNNING, &unnamed), Some(0.0));
    assert_eq!(recorded.gauge(RUNNING, &named), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn the_free_fns_record_under_the_default_tasks_name() {
    let mut recorded = Recorded::start();
    async_tasks::run(&Context::background(), sleeper(1));
    wait_bounded(async_tasks::default_tasks()).await;
    let labels = [("tasks", "async.run"), ("task", "async.run")];
    assert_eq!(recorded.counter(STARTED, &labels), 1);
    let ok = [labels[0], labels[1], ("outcome", "ok")];
    assert_eq!(recorded.counter(FINISHED, &ok), 1);
    assert_eq!(recorded.histogram(DURATION, &ok), [1.0]);
}

#[derive(Debug)]
struct Wrapped(ContextError);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "while syncing: {}", self.0)
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A runner that sleeps `secs`, then ends as `end` says.
fn ending(secs: u64, end: fn() -> Result<(), BoxError>) -> impl Runner + use<> {
    Func::new(move |_ctx| async move {
        sleep(Duration::from_secs(secs)).await;
        end()
    })
}

#[tokio::test(start_paused = true)]
async fn errors_panics_and_cancellations_are_outcomes() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("jobs");
    let ctx = Context::background();
    tasks.run(&ctx, ending(1, || Err("boom".into())));
    tasks.run(
        &ctx,
        ending(2, || Err(ContextError::DeadlineExceeded.into())),
    );
    tasks.run(&ctx, ending(3, || panic!("oh no")));
    tasks.run(&ctx, ending(4, || Err(ContextError::Canceled.into())));
    tasks.run(
        &ctx,
        ending(5, || Err(Wrapped(ContextError::Canceled).into())),
    );
    wait_bounded(&tasks).await;

    let labels = [("tasks", "jobs"), ("task", "jobs")];
    let with = |outcome| [labels[0], labels[1], ("outcome", outcome)];
    assert_eq!(recorded.counter(STARTED, &labels), 5);
    assert_eq!(
        recorded.counters_of(FINISHED),
        [
            "outcome=canceled,task=jobs,tasks=jobs => 2",
            "outcome=error,task=jobs,tasks=jobs => 2",
            "outcome=panic,task=jobs,tasks=jobs => 1",
        ]
    );
    assert_eq!(recorded.histogram(DURATION, &with("error")), [1.0, 2.0]);
    assert_eq!(recorded.histogram(DURATION, &with("panic")), [3.0]);
    assert_eq!(recorded.histogram(DURATION, &with("canceled")), [4.0, 5.0]);
    assert!(recorded.histogram(DURATION, &with("ok")).is_empty());
    assert_eq!(recorded.gauge(RUNNING, &labels), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn each_loop_iteration_is_a_run() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("pollers");
    let ctx = Context::background();

    // Ended by an error in its third iteration.
    let failing = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(&ctx, {
        let count = Arc::clone(&failing);
        Func::named("failing", move |_ctx| {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                sleep(Duration::from_secs(1)).await;
                if n == 3 {
                    return Err("third time".into());
                }
                Ok(())
            }
        })
    });
    // Ended by its context after its fourth iteration.
    let (until, cancel) = ctx.with_cancel();
    let counted = Arc::new(AtomicUsize::new(0));
    tasks.run_loop(&until, {
        let count = Arc::clone(&counted);
        Func::named("counted", move |_ctx| {
            if count.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
                cancel.cancel();
            }
            async { Ok(()) }
        })
    });
    wait_bounded(&tasks).await;
    assert_eq!(failing.load(Ordering::SeqCst), 3);
    assert_eq!(counted.load(Ordering::SeqCst), 4);

    let failing = [("tasks", "pollers"), ("task", "failing")];
    let counted = [("tasks", "pollers"), ("task", "counted")];
    assert_eq!(recorded.counter(STARTED, &failing), 3);
    assert_eq!(recorded.counter(STARTED, &counted), 4);
    assert_eq!(
        recorded.counters_of(FINISHED),
        [
            "outcome=error,task=failing,tasks=pollers => 1",
            "outcome=ok,task=counted,tasks=pollers => 4",
            "outcome=ok,task=failing,tasks=pollers => 2",
        ]
    );
    let failing_ok = [failing[0], failing[1], ("outcome", "ok")];
    let failing_error = [failing[0], failing[1], ("outcome", "error")];
    let counted_ok = [counted[0], counted[1], ("outcome", "ok")];
    assert_eq!(recorded.histogram(DURATION, &failing_ok), [1.0, 1.0]);
    assert_eq!(recorded.histogram(DURATION, &failing_error), [1.0]);
    assert_eq!(recorded.histogram(DURATION, &counted_ok), [0.0; 4]);
    // A loop is one task.
    assert_eq!(recorded.gauge(RUNNING, &failing), Some(0.0));
    assert_eq!(recorded.gauge(RUNNING, &counted), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn the_running_gauge_counts_tasks_from_the_spawn_until_they_end() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("svc");
    let (ctx, cancel) = Context::background().with_cancel();
    let waiter = |ctx: Context| async move {
        ctx.done().await;
        Ok(())
    };
    tasks.run(&ctx, Func::new(waiter));
    tasks.run_loop(&ctx, Func::new(waiter));
    tasks.run(&ctx, Func::named("named", waiter));

    // Before any of them is polled, as `running()` counts them.
    let unnamed = [("tasks", "svc"), ("task", "svc")];
    let named = [("tasks", "svc"), ("task", "named")];
    assert_eq!(tasks.running(), 3);
    assert_eq!(recorded.gauge(RUNNING, &unnamed), Some(2.0));
    assert_eq!(recorded.gauge(RUNNING, &named), Some(1.0));
    assert_eq!(recorded.counter(STARTED, &unnamed), 0);

    tokio::task::yield_now().await;
    assert_eq!(recorded.counter(STARTED, &unnamed), 2);
    assert_eq!(recorded.counter(STARTED, &named), 1);

    cancel.cancel();
    wait_bounded(&tasks).await;
    assert_eq!(recorded.gauge(RUNNING, &unnamed), Some(0.0));
    assert_eq!(recorded.gauge(RUNNING, &named), Some(0.0));
}

#[test]
fn the_running_gauge_returns_to_zero_and_runs_in_flight_are_aborted_when_the_runtime_is_dropped() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("doomed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = Context::background();
        tasks.run(&ctx, Func::new(|_ctx| pending()));
        tasks.run_loop(&ctx, Func::new(|_ctx| pending()));
        tokio::task::yield_now().await;
    });
    let labels = [("tasks", "doomed"), ("task", "doomed")];
    assert_eq!(recorded.gauge(RUNNING, &labels), Some(2.0));
    assert_eq!(recorded.counter(STARTED, &labels), 2);

    drop(runtime);
    assert_eq!(tasks.running(), 0);
    assert_eq!(recorded.gauge(RUNNING, &labels), Some(0.0));
    // Never finished by themselves: both runs in flight count as aborted, once.
    let aborted = [
        ("tasks", "doomed"),
        ("task", "doomed"),
        ("outcome", "aborted"),
    ];
    assert_eq!(recorded.counter(FINISHED, &aborted), 2);
    assert_eq!(recorded.counters_of(FINISHED).len(), 1);
}

/// Waits `secs`, then fails if told to.
#[async_task(name = "fetch")]
async fn fetch(_ctx: Context, secs: u64, fail: bool) -> Result<(), BoxError> {
    sleep(Duration::from_secs(secs)).await;
    if fail {
        return Err("fetch failed".into());
    }
    Ok(())
}

#[async_task(name = "fetch-twice")]
async fn fetch_twice(ctx: Context) -> Result<(), BoxError> {
    fetch(1, false).run(ctx.clone()).await?;
    fetch(2, false).run(ctx).await
}

#[async_task]
async fn explode(_ctx: Context) {
    sleep(Duration::from_secs(7)).await;
    panic!("exploded");
}

#[async_task]
async fn give_up(_ctx: Context) -> Result<(), ContextError> {
    Err(ContextError::Canceled)
}

#[async_task]
async fn stop(_ctx: Context) -> Result<(), BoxError> {
    Err(async_tasks::task::StopLoop.into())
}

#[tokio::test(start_paused = true)]
async fn async_task_calls_are_timed_by_call_name_and_outcome() {
    // No subscriber: calls are timed whether or not their spans are enabled.
    let mut recorded = Recorded::start();
    let ctx = Context::background();

    fetch(3, false).run(ctx.clone()).await.unwrap();
    fetch(4, true).run(ctx.clone()).await.unwrap_err();
    give_up().run(ctx.clone()).await.unwrap_err();
    stop().run(ctx.clone()).await.unwrap_err();
    let panicked = AssertUnwindSafe(explode().run(ctx.clone()))
        .catch_unwind()
        .await;
    assert!(panicked.is_err());
    // Under a `Tasks`: timed as a call and as a run, each under its own labels.
    let tasks = Tasks::new("crawler");
    tasks.run(&ctx, fetch_twice());
    wait_bounded(&tasks).await;

    let call = |name, outcome| [("call", name), ("outcome", outcome)];
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("fetch", "ok")),
        [1.0, 2.0, 3.0]
    );
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("fetch", "error")),
        [4.0]
    );
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("give_up", "canceled")),
        [0.0]
    );
    // A loop's quiet end is not a failure, for the call as for the run.
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("stop", "ok")),
        [0.0]
    );
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("explode", "panic")),
        [7.0]
    );
    assert_eq!(
        recorded.histogram(CALL_DURATION, &call("fetch-twice", "ok")),
        [3.0]
    );
    let run = [
        ("tasks", "crawler"),
        ("task", "fetch-twice"),
        ("outcome", "ok"),
    ];
    assert_eq!(recorded.histogram(DURATION, &run), [3.0]);
}

#[tokio::test]
async fn every_metric_is_described_with_its_unit() {
    let mut recorded = Recorded::start();
    let tasks = Tasks::new("described");
    tasks.run(&Context::background(), sleeper(0));
    wait_bounded(&tasks).await;
    recorded.take();
    for (kind, name, unit) in [
        (MetricKind::Counter, STARTED, Unit::Count),
        (MetricKind::Counter, FINISHED, Unit::Count),
        (MetricKind::Histogram, DURATION, Unit::Seconds),
        (MetricKind::Gauge, RUNNING, Unit::Count),
    ] {
        let (found_unit, description) = recorded
            .descriptions
            .get(&(kind, name.to_owned()))
            .unwrap_or_else(|| panic!("{name} was not recorded"));
        assert_eq!(found_unit.as_ref(), Some(&unit), "{name}");
        assert!(
            description.as_ref().is_some_and(|d| !d.is_empty()),
            "{name} has no description"
        );
    }
}

const LEASE_TERMS: &str = "async_tasks_lease_terms_total";
const LEASE_LOSSES: &str = "async_tasks_lease_losses_total";
const LEASE_LEADING: &str = "async_tasks_lease_leading";

/// Two replicas of one service in the same process (two `Tasks` on one `MemoryLeases`): the
/// leading gauge of the lease says how many of them lead, whatever order the old leader's
/// end and the new one's start come in.
#[tokio::test(start_paused = true)]
async fn the_leading_gauge_counts_the_replicas_of_the_process_that_lead() {
    use async_tasks::lease::{Lease, MemoryLeases};

    let mut recorded = Recorded::start();
    let leases = MemoryLeases::new();
    let s = Duration::from_secs;
    let replica = |holder: &'static str| {
        let tasks = Tasks::new(holder);
        let lease = Lease::new("outbox", leases.clone())
            .holder(holder)
            .ttl(s(15))
            .renew_deadline(s(10))
            .retry_every(s(2));
        tasks.run_singleton(
            &Context::background(),
            lease,
            Func::named("poller", |ctx: Context| async move {
                ctx.done().await;
                Ok(())
            }),
        );
        tasks
    };
    let a = replica("a");
    sleep(Duration::from_millis(1500)).await;
    let b = replica("b");
    // b takes the lease at 3.5 s, a learns at its renew at 4 s that it lost it.
    sleep(Duration::from_millis(1500)).await;
    leases.revoke("outbox");
    sleep(s(2)).await;
    assert_eq!(leases.holder("outbox").unwrap().holder(), "b");
    let lease = [("lease", "outbox")];
    assert_eq!(recorded.gauge(LEASE_LEADING, &lease), Some(1.0), "b leads");
    assert_eq!(recorded.counter(LEASE_TERMS, &lease), 2);
    assert_eq!(
        recorded.counters_of(LEASE_LOSSES),
        ["lease=outbox,reason=not_held => 1"]
    );

    a.shutdown(LIMIT).await.unwrap();
    b.shutdown(LIMIT).await.unwrap();
    assert_eq!(recorded.gauge(LEASE_LEADING, &lease), Some(0.0));
}

/// Terms and losses of a singleton's lease are counted by `lease` (losses by `reason` too),
/// and the leading gauge follows whether this replica leads; each iteration is a run, and
/// one dropped at the end of its grace counts as `aborted`. A leader aborted whole (by a
/// shutdown report) no longer counts as leading.
#[tokio::test(start_paused = true)]
async fn a_singletons_terms_and_losses_are_counted_and_an_aborted_run_is_aborted() {
    use async_tasks::lease::{Lease, MemoryLeases};

    let mut recorded = Recorded::start();
    let leases = MemoryLeases::new();
    let tasks = Tasks::new("svc");
    let s = Duration::from_secs;
    let lease = Lease::new("outbox", leases.clone())
        .holder("svc-1")
        .ttl(s(15))
        .renew_deadline(s(10))
        .retry_every(s(2));
    // Ignores its context: aborted 5 s (ttl - renew_deadline) after a loss.
    tasks.run_singleton(
        &Context::background(),
        lease,
        Func::named("poller", |_ctx| async {
            sleep(Duration::from_secs(10)).await;
            Ok(())
        }),
    );
    let lease = [("lease", "outbox")];
    sleep(s(1)).await;
    assert_eq!(recorded.counter(LEASE_TERMS, &lease), 1);
    assert_eq!(recorded.gauge(LEASE_LEADING, &lease), Some(1.0));

    // Lost at the renew at 4 s; the run that started at 0 s is aborted at 9 s, then this
    // replica takes the lease again (no one else wants it).
    sleep(s(2)).await;
    leases.revoke("outbox");
    sleep(s(6) + Duration::from_millis(1)).await;
    assert_eq!(
        recorded.counters_of(LEASE_LOSSES),
        ["lease=outbox,reason=not_held => 1"]
    );
    assert_eq!(recorded.counter(LEASE_TERMS, &lease), 2);
    assert_eq!(recorded.gauge(LEASE_LEADING, &lease), Some(1.0));
    let task = [("tasks", "svc"), ("task", "poller")];
    let aborted = [task[0], task[1], ("outcome", "aborted")];
    assert_eq!(recorded.counter(STARTED, &task), 2, "at 0 s and 9 s");
    assert_eq!(recorded.counter(FINISHED, &aborted), 1);
    assert_eq!(
        recorded.histogram(DURATION, &aborted),
        [9.0],
        "from 0 s to 9 s"
    );

    tasks.drain(LIMIT).await.unwrap();
    assert_eq!(recorded.gauge(LEASE_LEADING, &lease), Some(0.0));
    assert_eq!(
        recorded.counters_of(FINISHED),
        [
            "outcome=aborted,task=poller,tasks=svc => 1",
            "outcome=ok,task=poller,tasks=svc => 1",
        ]
    );
    assert_eq!(recorded.gauge(RUNNING, &task), Some(0.0));

    // A leader aborted whole, by a report, leads no more either.
    let tasks = Tasks::new("svc");
    let stubborn = Lease::new("reports", leases.clone()).holder("svc-1");
    tasks.run_singleton(
        &Context::background(),
        stubborn,
        Func::named("report", |_ctx| pending()),
    );
    sleep(s(1)).await;
    let reports = [("lease", "reports")];
    assert_eq!(recorded.gauge(LEASE_LEADING, &reports), Some(1.0));
    let report = tasks.shutdown_report(s(1)).await;
    assert_eq!(report.aborted, ["report"]);
    assert_eq!(recorded.gauge(LEASE_LEADING, &reports), Some(0.0));
}
