//! The user's code that a set calls while it holds one of its own locks must not be able to
//! reach that lock again: none runs under one (reliability round 3, the class of defect 1).
//!
//! Covers, each a deadlock before its fix (found by the sweep, not reported):
//! - replacing a set's error classes drops the old classifier, the user's closure, after the
//!   set's lock: its `Drop` may set the classes again;
//! - a listed task that fails while a report is collected: the report's record of it is
//!   made (the error's `Display`, the user's) before the listing's lock is taken: a
//!   `Display` that looks at the set (`snapshot`) does not wait for itself.
//!
//! Each runs on a thread of its own, bounded in real time: a deadlock on a std lock cannot
//! be interrupted, only noticed.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use async_tasks::task::ErrorClass;
use async_tasks::{BoxError, Context, Func, Tasks};
use tokio::runtime::Builder;

use support::{named_until_done, wait_bounded};

/// Runs `f` on a thread of its own, and fails if it has not returned within 30 s.
fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    assert!(
        returned.recv_timeout(Duration::from_secs(30)).is_ok(),
        "{what}: deadlocked"
    );
}

/// Sets its set's classes again when dropped.
struct SetsClassesWhenDropped(Tasks);

impl Drop for SetsClassesWhenDropped {
    fn drop(&mut self) {
        let _ = self.0.clone().with_error_classes(|_| ErrorClass::Warn);
    }
}

#[test]
fn a_classifier_dropped_when_replaced_may_set_the_classes_again() {
    bounded("replacing the classes", || {
        let tasks = Tasks::new("svc");
        let dropped = SetsClassesWhenDropped(tasks.clone());
        let tasks = tasks.with_error_classes(move |_| {
            let _keep = &dropped;
            ErrorClass::Error
        });
        // Drops the first classifier, whose drop sets the classes again.
        let _ = tasks.with_error_classes(|_| ErrorClass::Ignore);
    });
}

/// An error whose `Display` looks at its set.
#[derive(Debug)]
struct Looks(Tasks);

impl std::fmt::Display for Looks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failed with {} running", self.0.snapshot().tasks.len())
    }
}

impl std::error::Error for Looks {}

#[test]
fn a_failure_recorded_for_a_report_may_look_at_its_set() {
    bounded("a report recording a failure", || {
        let rt = Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tasks = Tasks::new("svc");
            let ctx = Context::background();
            // Keeps the report waiting while the other one fails.
            tasks.run(&ctx, named_until_done("polite"));
            let looking = tasks.clone();
            tasks.run(
                &ctx,
                Func::named("looker", move |ctx: Context| {
                    let looking = looking.clone();
                    async move {
                        ctx.done().await;
                        Err::<(), BoxError>(Looks(looking).into())
                    }
                }),
            );
            let report = tasks.shutdown_report(Duration::from_secs(5)).await;
            assert_eq!(report.finished, ["polite"], "{report}");
            assert_eq!(report.failed.len(), 1, "{report}");
            assert_eq!(report.failed[0].name, "looker");
            wait_bounded(&tasks).await;
        });
    });
}
