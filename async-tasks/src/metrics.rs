//! Metrics of runs and calls (feature `metrics`), through the [`metrics`] facade: the hooks
//! that `tasks.rs` and `__private.rs` call, one line each. The metric names and labels are
//! documented in the crate docs' "Features" list.
//!
//! Without the feature every type here is zero-sized and every hook an empty `#[inline]` fn:
//! the hooks compile to nothing and the spawned futures keep their size.
//!
//! With it, invariants:
//! - a task's `async_tasks_running` gauge goes up before `run*()` returns and down when the
//!   task's future is dropped, finished or not (its runtime shut down), by the [`TaskMeter`]
//!   that the future owns, as the registry's `Listed` guard does: summed over `task`, it is
//!   `Tasks::running()`;
//! - a task registers each handle once, with the recorder current where it does so (the
//!   gauge at the spawn, the run metrics in the task at its first run and at the first
//!   outcome of each kind), and keeps it: a loop iteration only counts and records, and the
//!   gauge's decrement always reaches the recorder that counted its increment;
//! - keys (name and labels) are built once per `Tasks` and runner name, so spawning and
//!   running allocate nothing for metrics;
//! - durations are read from tokio's clock, so they follow a paused test clock.

#[cfg(feature = "metrics")]
pub(crate) use self::enabled::{CallMeter, TasksMetrics};

#[cfg(not(feature = "metrics"))]
pub(crate) use self::disabled::{CallMeter, TasksMetrics};

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

    use ::metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString, Unit};
    use tokio::time::Instant;

    use crate::report::{Outcome, is_canceled};
    use crate::{BoxError, Runner};

    const RUNS_STARTED: &str = "async_tasks_runs_started_total";
    const RUNS_FINISHED: &str = "async_tasks_runs_finished_total";
    const RUN_DURATION: &str = "async_tasks_run_duration_seconds";
    const RUNNING: &str = "async_tasks_running";
    const CALL_DURATION: &str = "async_tasks_call_duration_seconds";

    /// What recorders may filter on, as the `metrics` macros would pass it from here.
    static METADATA: Metadata<'static> =
        Metadata::new("async_tasks", Level::INFO, Some(module_path!()));

    /// Describes every metric (name, unit, help text) to the recorder current now.
    fn describe() {
        ::metrics::describe_counter!(
            RUNS_STARTED,
            Unit::Count,
            "Runs started: one per Tasks::run or run_background, one per run_loop iteration."
        );
        ::metrics::describe_counter!(
            RUNS_FINISHED,
            Unit::Count,
            "Runs ended, by outcome: ok, error, panic, or canceled (ended by cancellation, not \
             a failure)."
        );
        ::metrics::describe_histogram!(
            RUN_DURATION,
            Unit::Seconds,
            "How long each run took, from its start to its end, by outcome."
        );
        ::metrics::describe_gauge!(
            RUNNING,
            Unit::Count,
            "Tasks running now: spawned and not yet ended (a loop counts once)."
        );
        ::metrics::describe_histogram!(
            CALL_DURATION,
            Unit::Seconds,
            "How long each #[async_task] call took, by outcome."
        );
    }

    fn counter(key: &Key) -> Counter {
        ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA))
    }

    fn histogram(key: &Key) -> Histogram {
        ::metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA))
    }

    fn gauge(key: &Key) -> Gauge {
        ::metrics::with_recorder(|recorder| recorder.register_gauge(key, &METADATA))
    }

    /// How a run or a call ended: the `outcome` label.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Ended {
        Ok,
        Error,
        Panic,
        Canceled,
    }

    impl Ended {
        /// Every value, in the order of [`Ended::index`].
        const ALL: [Ended; 4] = [Ended::Ok, Ended::Error, Ended::Panic, Ended::Canceled];

        fn of(outcome: &Outcome) -> Ended {
            match outcome {
                Outcome::Finished | Outcome::Stopped => Ended::Ok,
                Outcome::Canceled(_) => Ended::Canceled,
                Outcome::Failed(_) => Ended::Error,
                Outcome::Panicked(_) => Ended::Panic,
            }
        }

        fn of_result(result: &Result<(), BoxError>) -> Ended {
            match result {
                Ok(()) => Ended::Ok,
                Err(err) if is_canceled(&**err) => Ended::Canceled,
                Err(_) => Ended::Error,
            }
        }

        fn index(self) -> usize {
            self as usize
        }

        fn label(self) -> Label {
            let value = match self {
                Ended::Ok => "ok",
                Ended::Error => "error",
                Ended::Panic => "panic",
                Ended::Canceled => "canceled",
            };
            Label::from_static_parts("outcome", value)
        }
    }

    /// The metric keys of one `Tasks`, built at its first spawn (when its name is at hand).
    #[derive(Default)]
    pub(crate) struct TasksMetrics {
        keys: OnceLock<TasksKeys>,
    }

    struct TasksKeys {
        /// The `Tasks`' name, shared (not copied) by every key's `tasks` label.
        name: SharedString,
        /// The keys of runners without a name, whose `task` label is the `Tasks`' name.
        unnamed: Arc<RunKeys>,
        /// The keys of each named runner seen so far: few, as runner names are literals.
        named: Mutex<Vec<Arc<RunKeys>>>,
    }

    /// The keys of one runner name of one `Tasks`; the arrays are indexed by [`Ended::index`].
    struct RunKeys {
        task: SharedString,
        running: Key,
        started: Key,
        finished: [Key; 4],
        duration: [Key; 4],
    }

    impl TasksMetrics {
        /// A task of this `Tasks` (named `tasks`) is about to be spawned to run `runner`:
        /// counts it as running until the returned meter is dropped.
        pub(crate) fn spawned<R: Runner + ?Sized>(&self, tasks: &str, runner: &R) -> TaskMeter {
            let keys = self
                .keys
                .get_or_init(|| TasksKeys::new(tasks))
                .of(runner.name());
            let running = gauge(&keys.running);
            running.increment(1.0);
            TaskMeter {
                keys,
                running,
                started: None,
                ended: None,
            }
        }
    }

    impl TasksKeys {
        fn new(tasks: &str) -> TasksKeys {
            // Once per `Tasks`, so that a recorder installed after an earlier `Tasks` started
            // (or a test's local recorder) gets the descriptions too.
            describe();
            let name = SharedString::from_shared(Arc::from(tasks));
            TasksKeys {
                unnamed: Arc::new(RunKeys::new(&name, name.clone())),
                named: Mutex::default(),
                name,
            }
        }

        fn of(&self, runner: Option<&'static str>) -> Arc<RunKeys> {
            let Some(runner) = runner else {
                return Arc::clone(&self.unnamed);
            };
            // Held for a scan of a few entries; nothing in it panics, so poisoning can be
            // ignored.
            let mut named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(keys) = named.iter().find(|keys| *keys.task == *runner) {
                return Arc::clone(keys);
            }
            let keys = Arc::new(RunKeys::new(&self.name, SharedString::const_str(runner)));
            named.push(Arc::clone(&keys));
            keys
        }
    }

    impl RunKeys {
        fn new(tasks: &SharedString, task: SharedString) -> RunKeys {
            let labels = |outcome: Option<Ended>| {
                let mut labels = Vec::with_capacity(3);
                labels.push(Label::new("tasks", tasks.clone()));
                labels.push(Label::new("task", task.clone()));
                labels.extend(outcome.map(Ended::label));
                labels
            };
            RunKeys {
                running: Key::from_parts(RUNNING, labels(None)),
                started: Key::from_parts(RUNS_STARTED, labels(None)),
                finished: Ended::ALL
                    .map(|ended| Key::from_parts(RUNS_FINISHED, labels(Some(ended)))),
                duration: Ended::ALL
                    .map(|ended| Key::from_parts(RUN_DURATION, labels(Some(ended)))),
                task,
            }
        }
    }

    /// The metrics of one spawned task, owned by its future; dropping it ends the task's
    /// count in the running gauge.
    pub(crate) struct TaskMeter {
        keys: Arc<RunKeys>,
        running: Gauge,
        /// Registered at the first run.
        started: Option<Counter>,
        /// The handles of the last outcome seen (a loop's runs mostly end alike).
        ended: Option<(Ended, Counter, Histogram)>,
    }

    /// When a run started.
    pub(crate) struct RunStart(Instant);

    impl TaskMeter {
        /// A run starts: counts it and notes the time.
        pub(crate) fn start(&mut self) -> RunStart {
            let key = &self.keys.started;
            self.started
                .get_or_insert_with(|| counter(key))
                .increment(1);
            RunStart(Instant::now())
        }

        /// The run begun at `start` ended with `outcome`: counts it and records how long it
        /// took.
        pub(crate) fn finish(&mut self, start: RunStart, outcome: &Outcome) {
            let elapsed = start.0.elapsed();
            let ended = Ended::of(outcome);
            let (_, finished, duration) = match &self.ended {
                Some(handles) if handles.0 == ended => handles,
                _ => {
                    let keys = &self.keys;
                    let i = ended.index();
                    self.ended.insert((
                        ended,
                        counter(&keys.finished[i]),
                        histogram(&keys.duration[i]),
                    ))
                }
            };
            finished.increment(1);
            duration.record(elapsed);
        }
    }

    impl Drop for TaskMeter {
        fn drop(&mut self) {
            self.running.decrement(1.0);
        }
    }

    /// One `#[async_task]` call being timed, whether or not its span is enabled.
    pub(crate) struct CallMeter {
        call: &'static str,
        start: Instant,
    }

    impl CallMeter {
        /// The call named `call` (its `#[async_task]` name) starts.
        pub(crate) fn start(call: &'static str) -> CallMeter {
            CallMeter {
                call,
                start: Instant::now(),
            }
        }

        /// The call returned `result`.
        pub(crate) fn finish(self, result: &Result<(), BoxError>) {
            self.end(Ended::of_result(result));
        }

        /// The call panicked.
        pub(crate) fn panicked(self) {
            self.end(Ended::Panic);
        }

        fn end(self, ended: Ended) {
            let (call, elapsed) = (self.call, self.start.elapsed());
            // For programs that call `#[async_task]` fns without any `Tasks`.
            static DESCRIBED: Once = Once::new();
            DESCRIBED.call_once(describe);
            let labels = vec![Label::from_static_parts("call", call), ended.label()];
            histogram(&Key::from_parts(CALL_DURATION, labels)).record(elapsed);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::Func;

        #[test]
        fn keys_are_built_once_per_runner_name() {
            let named = |name| Func::named(name, |_ctx| std::future::ready(Ok(())));
            let metrics = TasksMetrics::default();
            let first = metrics.spawned("jobs", &named("sync"));
            let again = metrics.spawned("jobs", &named("sync"));
            let other = metrics.spawned("jobs", &named("other"));
            let unnamed = metrics.spawned("jobs", &Func::new(|_ctx| std::future::ready(Ok(()))));
            assert!(Arc::ptr_eq(&first.keys, &again.keys));
            assert!(!Arc::ptr_eq(&first.keys, &other.keys));
            assert_eq!(&*unnamed.keys.task, "jobs");
            let labels: Vec<_> = first.keys.finished[Ended::Panic.index()]
                .labels()
                .map(|label| (label.key(), label.value()))
                .collect();
            assert_eq!(
                labels,
                [("tasks", "jobs"), ("task", "sync"), ("outcome", "panic")]
            );
        }
    }
}

/// The same hooks, doing nothing: zero-sized types and empty inline fns.
#[cfg(not(feature = "metrics"))]
mod disabled {
    use crate::report::Outcome;
    use crate::{BoxError, Runner};

    #[derive(Default)]
    pub(crate) struct TasksMetrics;

    pub(crate) struct TaskMeter;

    pub(crate) struct RunStart;

    pub(crate) struct CallMeter;

    impl TasksMetrics {
        #[inline]
        pub(crate) fn spawned<R: Runner + ?Sized>(&self, _tasks: &str, _runner: &R) -> TaskMeter {
            TaskMeter
        }
    }

    impl TaskMeter {
        #[inline]
        pub(crate) fn start(&mut self) -> RunStart {
            RunStart
        }

        #[inline]
        pub(crate) fn finish(&mut self, _start: RunStart, _outcome: &Outcome) {}
    }

    impl CallMeter {
        #[inline]
        pub(crate) fn start(_call: &'static str) -> CallMeter {
            CallMeter
        }

        #[inline]
        pub(crate) fn finish(self, _result: &Result<(), BoxError>) {}

        #[inline]
        pub(crate) fn panicked(self) {}
    }
}
