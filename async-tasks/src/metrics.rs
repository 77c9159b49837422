//! Metrics of runs and calls (feature `metrics`), through the [`metrics`] facade: the hooks
//! that a set's tasks and the traced calls call, one line each. The metric names and labels are
//! documented in the crate docs' "Features" list.
//!
//! Without the feature every type here is zero-sized and every hook an empty `#[inline]` fn:
//! the hooks compile to nothing and the spawned futures keep their size.
//!
//! With it, invariants:
//! - a task's `async_tasks_running` gauge goes up before `run*()` returns and down when the
//!   task's future is dropped, finished or not (aborted, or its runtime shut down), by the
//!   [`TaskMeter`] that the future owns: summed over `task` and over a set's path and its
//!   children's, it is `Tasks::running()`;
//! - a run that started and was dropped before it finished counts as finished with outcome
//!   `aborted`: every run started is counted finished once;
//! - a task registers each handle once, with the recorder current where it does so (the
//!   gauge at the spawn, the run metrics in the task at its first run and at the first
//!   outcome of each kind), and keeps it: a loop iteration only counts and records, and the
//!   gauge's decrement always reaches the recorder that counted its increment;
//! - keys (name and labels) are built once per `Tasks` and runner name, so spawning and
//!   running allocate nothing for metrics;
//! - durations are read from tokio's clock, so they follow a paused test clock.

#[cfg(feature = "metrics")]
pub(crate) use self::enabled::{CallMeter, LeaseMeter, TaskMeter, TasksMetrics};

#[cfg(not(feature = "metrics"))]
pub(crate) use self::disabled::{CallMeter, LeaseMeter, TaskMeter, TasksMetrics};

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::{Arc, Once, OnceLock};

    use ::metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString, Unit};
    use tokio::time::Instant;

    use crate::loom::{Mutex, lock};

    use crate::outcome::labels::{self, ABORTED};

    const RUNS_STARTED: &str = "async_tasks_runs_started_total";
    const RUNS_FINISHED: &str = "async_tasks_runs_finished_total";
    const RUN_DURATION: &str = "async_tasks_run_duration_seconds";
    const RUNNING: &str = "async_tasks_running";
    const CALL_DURATION: &str = "async_tasks_call_duration_seconds";
    const LEASE_TERMS: &str = "async_tasks_lease_terms_total";
    const LEASE_LOSSES: &str = "async_tasks_lease_losses_total";
    const LEASE_LEADING: &str = "async_tasks_lease_leading";

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
        ::metrics::describe_counter!(
            LEASE_TERMS,
            Unit::Count,
            "Terms this replica led a singleton's lease under (one per lease taken)."
        );
        ::metrics::describe_counter!(
            LEASE_LOSSES,
            Unit::Count,
            "Leases this replica lost while leading, by reason: not_held (the store said \
             so), renew_timed_out, store_failed."
        );
        ::metrics::describe_gauge!(
            LEASE_LEADING,
            Unit::Count,
            "How many singletons of this process lead the lease now: 1 while this replica \
             leads it, 0 otherwise."
        );
    }

    /// A singleton's lease metrics: its terms, its losses, whether this replica leads.
    pub(crate) struct LeaseMeter {
        lease: SharedString,
        leading: Gauge,
    }

    impl LeaseMeter {
        /// The metrics of the lease `lease`, registered with the recorder current here.
        pub(crate) fn new(lease: &str) -> LeaseMeter {
            static DESCRIBED: Once = Once::new();
            DESCRIBED.call_once(describe);
            let lease = SharedString::from(lease.to_owned());
            let leading = Key::from_parts(LEASE_LEADING, vec![Label::new("lease", lease.clone())]);
            LeaseMeter {
                leading: gauge(&leading),
                lease,
            }
        }

        /// This replica took the lease: a term starts.
        ///
        /// The gauge is counted up here and down in [`following`](LeaseMeter::following),
        /// not set: several singletons of one process may campaign for the same lease (the
        /// replicas of a test, or `Tasks` sharing a `MemoryLeases`), and the old leader's
        /// end may come after the new one's start.
        pub(crate) fn leading(&self) {
            let key = Key::from_parts(LEASE_TERMS, vec![Label::new("lease", self.lease.clone())]);
            counter(&key).increment(1);
            self.leading.increment(1.0);
        }

        /// This replica lost the lease, for `reason` (a `LossReason`'s label).
        pub(crate) fn lost(&self, reason: &'static str) {
            let key = Key::from_parts(
                LEASE_LOSSES,
                vec![
                    Label::new("lease", self.lease.clone()),
                    Label::from_static_parts("reason", reason),
                ],
            );
            counter(&key).increment(1);
        }

        /// This replica no longer leads (after [`leading`](LeaseMeter::leading)).
        pub(crate) fn following(&self) {
            self.leading.decrement(1.0);
        }
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

    /// Every `outcome` label, in the order of the keys' arrays.
    const OUTCOMES: [&str; 5] = [
        labels::OK,
        labels::ERROR,
        labels::PANIC,
        labels::CANCELED,
        ABORTED,
    ];

    /// The index of an `outcome` label in [`OUTCOMES`].
    fn index(outcome: &str) -> usize {
        OUTCOMES
            .iter()
            .position(|known| *known == outcome)
            .unwrap_or(0)
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

    /// The keys of one runner name of one set; the arrays are indexed as [`OUTCOMES`].
    struct RunKeys {
        task: SharedString,
        running: Key,
        started: Key,
        finished: [Key; 5],
        duration: [Key; 5],
    }

    impl TasksMetrics {
        /// A task of this set (whose path is `tasks`) is about to be spawned, by the name
        /// `task` (`None`: the set's): counts it as running until the returned meter is
        /// dropped.
        pub(crate) fn spawned(&self, tasks: &str, task: Option<&str>) -> TaskMeter {
            let keys = self.keys.get_or_init(|| TasksKeys::new(tasks)).of(task);
            let running = gauge(&keys.running);
            running.increment(1.0);
            TaskMeter {
                keys,
                running,
                started: None,
                ended: None,
                run: None,
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

        fn of(&self, runner: Option<&str>) -> Arc<RunKeys> {
            let Some(runner) = runner else {
                return Arc::clone(&self.unnamed);
            };
            // Held for a scan of a few entries (runner names are literals).
            let mut named = lock(&self.named);
            if let Some(keys) = named.iter().find(|keys| *keys.task == *runner) {
                return Arc::clone(keys);
            }
            let task = SharedString::from_shared(Arc::from(runner));
            let keys = Arc::new(RunKeys::new(&self.name, task));
            named.push(Arc::clone(&keys));
            keys
        }
    }

    impl RunKeys {
        fn new(tasks: &SharedString, task: SharedString) -> RunKeys {
            let labels = |outcome: Option<&'static str>| {
                let mut labels = Vec::with_capacity(3);
                labels.push(Label::new("tasks", tasks.clone()));
                labels.push(Label::new("task", task.clone()));
                labels.extend(outcome.map(|outcome| Label::from_static_parts("outcome", outcome)));
                labels
            };
            RunKeys {
                running: Key::from_parts(RUNNING, labels(None)),
                started: Key::from_parts(RUNS_STARTED, labels(None)),
                finished: OUTCOMES
                    .map(|outcome| Key::from_parts(RUNS_FINISHED, labels(Some(outcome)))),
                duration: OUTCOMES
                    .map(|outcome| Key::from_parts(RUN_DURATION, labels(Some(outcome)))),
                task,
            }
        }
    }

    /// The metrics of one spawned task, owned by its future; dropping it ends the task's
    /// count in the running gauge, and counts a run in flight as `aborted`.
    pub(crate) struct TaskMeter {
        keys: Arc<RunKeys>,
        running: Gauge,
        /// Registered at the first run.
        started: Option<Counter>,
        /// The handles of the last outcome seen (a loop's runs mostly end alike).
        ended: Option<(usize, Counter, Histogram)>,
        /// When the run in flight started.
        run: Option<Instant>,
    }

    impl TaskMeter {
        /// A run starts: counts it and notes the time.
        pub(crate) fn start(&mut self) {
            let key = &self.keys.started;
            self.started
                .get_or_insert_with(|| counter(key))
                .increment(1);
            self.run = Some(Instant::now());
        }

        /// The run in flight ended with `outcome` (a label of [`OUTCOMES`]): counts it and
        /// records how long it took.
        pub(crate) fn finish(&mut self, outcome: &str) {
            let Some(start) = self.run.take() else {
                return;
            };
            let elapsed = start.elapsed();
            let i = index(outcome);
            let (_, finished, duration) = match &self.ended {
                Some(handles) if handles.0 == i => handles,
                _ => {
                    let keys = &self.keys;
                    self.ended
                        .insert((i, counter(&keys.finished[i]), histogram(&keys.duration[i])))
                }
            };
            finished.increment(1);
            duration.record(elapsed);
        }
    }

    impl Drop for TaskMeter {
        fn drop(&mut self) {
            // A run still in flight was dropped: aborted, or gone with its runtime.
            self.finish(ABORTED);
            self.running.decrement(1.0);
        }
    }

    /// One `#[async_task]` call being timed, whether or not its span is enabled.
    pub(crate) struct CallMeter {
        call: &'static str,
        start: Instant,
    }

    impl CallMeter {
        /// What starts timing the call named `call` (its `#[async_task]` name), when called.
        pub(crate) fn starter(call: &'static str) -> impl FnOnce() -> CallMeter {
            move || CallMeter {
                call,
                start: Instant::now(),
            }
        }

        /// The call returned, and ended as `outcome` says (judged by the caller, as a run's
        /// end is: `outcome::Verdict`).
        pub(crate) fn finish(self, outcome: &'static str) {
            self.end(outcome);
        }

        /// The call panicked.
        pub(crate) fn panicked(self) {
            self.end(labels::PANIC);
        }

        fn end(self, outcome: &'static str) {
            let (call, elapsed) = (self.call, self.start.elapsed());
            // For programs that call `#[async_task]` fns without any `Tasks`.
            static DESCRIBED: Once = Once::new();
            DESCRIBED.call_once(describe);
            let labels = vec![
                Label::from_static_parts("call", call),
                Label::from_static_parts("outcome", outcome),
            ];
            histogram(&Key::from_parts(CALL_DURATION, labels)).record(elapsed);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn keys_are_built_once_per_runner_name() {
            let metrics = TasksMetrics::default();
            let first = metrics.spawned("jobs", Some("sync"));
            let again = metrics.spawned("jobs", Some("sync"));
            let other = metrics.spawned("jobs", Some("other"));
            let unnamed = metrics.spawned("jobs", None);
            assert!(Arc::ptr_eq(&first.keys, &again.keys));
            assert!(!Arc::ptr_eq(&first.keys, &other.keys));
            assert_eq!(&*unnamed.keys.task, "jobs");
            let labels: Vec<_> = first.keys.finished[index("panic")]
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
    #[derive(Default)]
    pub(crate) struct TasksMetrics;

    pub(crate) struct TaskMeter;

    pub(crate) struct CallMeter;

    /// Zero-sized: it keeps no name.
    pub(crate) struct LeaseMeter;

    impl LeaseMeter {
        #[inline]
        pub(crate) fn new(_lease: &str) -> LeaseMeter {
            LeaseMeter
        }

        #[inline]
        pub(crate) fn leading(&self) {}

        #[inline]
        pub(crate) fn lost(&self, _reason: &'static str) {}

        #[inline]
        pub(crate) fn following(&self) {}
    }

    impl TasksMetrics {
        #[inline]
        pub(crate) fn spawned(&self, _tasks: &str, _task: Option<&str>) -> TaskMeter {
            TaskMeter
        }
    }

    impl TaskMeter {
        #[inline]
        pub(crate) fn start(&mut self) {}

        #[inline]
        pub(crate) fn finish(&mut self, _outcome: &str) {}
    }

    impl CallMeter {
        /// Zero-sized: it keeps no name.
        #[inline]
        pub(crate) fn starter(_call: &'static str) -> impl FnOnce() -> CallMeter {
            || CallMeter
        }

        #[inline]
        pub(crate) fn finish(self, _outcome: &'static str) {}

        #[inline]
        pub(crate) fn panicked(self) {}
    }
}
