//! Model checks of a set's own synchronisation with its listing (children, collectors,
//! drains, reports, unlisting), run with
//! `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.
//!
//! The races of reliability round 3: a straggler's walk meeting a child as it goes (defect
//! 1), a new child copying a collector that is going away (defect 3), a drain that ends
//! during a report (defect 5); and the unlisting a report waits for (defect 2).

use super::*;
use crate::outcome::Ended;
use crate::task::listing::TaskName;
use crate::task::snapshot::TaskKind;
use crate::task::supervise::Member;

/// A set named `name`, the child of `parent` if there is one.
fn set(name: &str, parent: Option<&Arc<Set>>) -> Arc<Set> {
    Set::new(name.to_owned(), parent, false)
}

/// Defect 1: the walk that names a timed-out drain's stragglers upgrades each child; the
/// child's last other handle may go before the walk lets go of its own, which is then the
/// last one: the child's drop takes the parent's `children` lock, which the walk must not
/// hold then.
#[test]
fn loom_naming_stragglers_while_a_child_goes_does_not_deadlock() {
    loom::model(|| {
        let parent = set("svc", None);
        // Made and dropped while the walk goes: one made before it began is held by it.
        let churner = {
            let parent = Arc::clone(&parent);
            loom::thread::spawn(move || drop(set("jobs", Some(&parent))))
        };
        let unlisted = parent.unlisted_by_set();
        churner.join().unwrap();
        assert!(unlisted.is_empty());
        assert!(
            lock(&parent.children).is_empty(),
            "the child left its parent"
        );
    });
}

/// Defect 3: a child set made while a drain (or report) stops collecting copies the
/// parent's collectors one by one: the one going away is either not copied, or taken out
/// of the child after it was.
#[test]
fn loom_a_child_made_as_a_collector_goes_does_not_keep_it() {
    loom::model(|| {
        let parent = set("svc", None);
        let collecting = Collecting::start(&parent, true);
        let maker = {
            let parent = Arc::clone(&parent);
            loom::thread::spawn(move || set("jobs", Some(&parent)))
        };
        drop(collecting);
        let child = maker.join().unwrap();
        assert!(
            child.listing.collectors().is_empty(),
            "the child records for nobody"
        );
        assert!(parent.listing.collectors().is_empty());
    });
}

/// Defect 5: a task ends, and a drain starts and ends, while a report collects: the report
/// names the task once, whichever came first, and nothing keeps recording after.
#[test]
fn loom_a_drain_ending_during_a_report_leaves_the_task_named_once() {
    // Three threads over the walks of a drain and a report: every interleaving with up to
    // two preemptions (all of them take minutes), which is where the race lives.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let svc = set("svc", None);
        let ticket = svc
            .listing
            .insert(TaskName::Static("polite"), TaskKind::Run, None);
        let ender = {
            let svc = Arc::clone(&svc);
            loom::thread::spawn(move || {
                svc.listing
                    .finish(ticket, &svc.path, || Ended::Finished, false);
            })
        };
        // A drain that starts and ends at any point of the report (before it, during it).
        let drain_ends = {
            let svc = Arc::clone(&svc);
            loom::thread::spawn(move || drop(Collecting::start(&svc, true)))
        };
        let report = Collecting::start(&svc, false);
        // Still listed once the report collects: the report must name it.
        let listed = svc.listing.len() == 1;
        let (drained, _) = svc.take_drained();
        ender.join().unwrap();
        let running = report.stop();
        let ended = report.take_after(drained);
        drop(report);
        drain_ends.join().unwrap();
        let named = ended.len() + running.len();
        assert!(named <= 1, "the task is named {named} times");
        if listed {
            assert_eq!(
                named, 1,
                "the task ended during the report and is not named"
            );
        }
        assert!(svc.listing.collectors().is_empty());
    });
}

/// Defect 2: a task a report names aborted is unlisted (what the report waits for) only
/// once it counts in no tracker any more, its parent's included; also when it ends by
/// itself as the report stops.
#[test]
fn loom_a_task_a_report_waits_for_is_unlisted_after_it_stops_counting() {
    loom::model(|| {
        let svc = set("svc", None);
        let jobs = set("jobs", Some(&svc));
        let ticket = jobs
            .listing
            .insert(TaskName::Static("job"), TaskKind::Run, None);
        let mut member = Member::new(&jobs, Some(ticket), Some("job"));
        let report = Collecting::start(&svc, false);
        let task = loom::thread::spawn(move || {
            // Ends by itself, then its future drops its membership, last.
            let _ = member.finish(|| Ended::Finished);
            drop(member);
        });
        let running = report.stop();
        let ended = report.take_after(Vec::new());
        assert_eq!(ended.len() + running.len(), 1, "in one list");
        if !running.is_empty() {
            // Named aborted: what `Listing::gone` waits for.
            while jobs.listing.len() > 0 {
                loom::thread::yield_now();
            }
            assert_eq!(
                (jobs.tracker.len(), svc.tracker.len()),
                (0, 0),
                "unlisted while still counted"
            );
        }
        task.join().unwrap();
    });
}
