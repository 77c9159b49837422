//! A model test of the singleton's leader state machine: random fleets of 2 to 4 replicas
//! (each a `Tasks` running `run_singleton` on one `FaultyLeases`, with a body of random
//! length that obeys its context or ignores it), driven through random schedules of store
//! faults per replica and per call (fail, hang, lag), outages, revokes, drains and paused
//! time. The store's record of every term (when it was granted, renewed, released or
//! revoked, `support/faulty_leases.rs`) is the model the bodies' runs (`support/board.rs`)
//! are checked against:
//!
//! 1. **No run outlives its term's expiry**: every run of a term ends no later than the
//!    term's expiry in the store (its last grant or renew plus `ttl`), and starts before
//!    it — as far as this process's clock can tell, which on the paused clock is exactly.
//! 2. **No two bodies overlap while both terms are valid**: the runs of a term that was
//!    not revoked all end before any run of a later term starts (by the clock; and, for a
//!    term that was released, before its release, by the order things happened). A revoke
//!    takes a lease from a live holder, which learns it only at its next renew: its runs
//!    may overlap the next term's, still bounded by 1.
//! 3. **Fences strictly increase** across terms, each run sees its own term's, and each
//!    replica sees its fences grow.
//! 4. **Eventually exactly one leader**: once the store is healthy again for long enough,
//!    exactly one replica that was not drained leads, by its snapshot and by the store,
//!    and its body runs.
//!
//! The timings are client-go's proportions, in tenths: ttl 1.5 s, renew_deadline 1 s,
//! retry_every 200 ms (a grace of 500 ms). 256 cases run by default (about 2 s) (`PROPTEST_CASES`
//! changes it), from a fixed seed unless `PROPTEST_RNG_SEED` is set. To soak:
//!
//! ```text
//! PROPTEST_CASES=2000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p async-tasks-tests --test singleton_props
//! ```

mod support;

use std::time::Duration;

use async_tasks::lease::Lease;
use async_tasks::task::TaskKind;
use async_tasks::{Context, Tasks};
use proptest::prelude::*;
use tokio::time::{Instant, sleep, timeout};

use support::board::{Board, Obeys, RunRecord, poller};
use support::faulty_leases::{Call, Ended, Fault, FaultyLeases, Held};

const TTL: Duration = Duration::from_millis(1500);
const RENEW_DEADLINE: Duration = Duration::from_millis(1000);
const RETRY: Duration = Duration::from_millis(200);
const NAME: &str = "poller";
const HOLDERS: [&str; 4] = ["r0", "r1", "r2", "r3"];
/// How long the store stays healthy before liveness is judged: past any term's expiry,
/// grace, release timeout and campaign.
const QUIET: Duration = Duration::from_secs(15);
const LIMIT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
struct ReplicaSpec {
    start_ms: u64,
    work_ms: u64,
    obeys: bool,
}

#[derive(Debug, Clone, Copy)]
enum FaultSpec {
    Fail,
    Hang,
    DelayMs(u64),
}

#[derive(Debug, Clone)]
enum Step {
    AdvanceMs(u64),
    Fault {
        replica: usize,
        call: usize,
        fault: FaultSpec,
    },
    Heal(usize),
    Revoke,
    Outage(bool),
    Drain(usize),
}

fn replica_strategy() -> impl Strategy<Value = ReplicaSpec> {
    (0..400u64, 20..1500u64, prop::bool::weighted(0.75)).prop_map(|(start_ms, work_ms, obeys)| {
        ReplicaSpec {
            start_ms,
            work_ms,
            obeys,
        }
    })
}

fn fault_strategy() -> impl Strategy<Value = FaultSpec> {
    prop_oneof![
        2 => Just(FaultSpec::Fail),
        2 => Just(FaultSpec::Hang),
        1 => (1..2500u64).prop_map(FaultSpec::DelayMs),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..3000u64).prop_map(Step::AdvanceMs),
        4 => (0..4usize, 0..3usize, fault_strategy())
            .prop_map(|(replica, call, fault)| Step::Fault { replica, call, fault }),
        3 => (0..4usize).prop_map(Step::Heal),
        2 => Just(Step::Revoke),
        1 => any::<bool>().prop_map(Step::Outage),
        1 => (0..4usize).prop_map(Step::Drain),
    ]
}

fn lease(store: &FaultyLeases, holder: &str) -> Lease {
    Lease::new(NAME, store.clone())
        .holder(holder)
        .ttl(TTL)
        .renew_deadline(RENEW_DEADLINE)
        .retry_every(RETRY)
}

fn term_of(tasks: &Tasks) -> Option<async_tasks::lease::Term> {
    let snapshot = tasks.snapshot();
    let info = snapshot
        .tasks
        .iter()
        .find(|task| task.kind == TaskKind::Singleton)?;
    info.term.clone()
}

fn run_case(specs: Vec<ReplicaSpec>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        timeout(LIMIT, play(specs, steps))
            .await
            .expect("the case ends")
    })
}

async fn play(specs: Vec<ReplicaSpec>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let n = specs.len();

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| specs[i].start_ms);
    let mut replicas: Vec<Option<Tasks>> = (0..n).map(|_| None).collect();
    for i in order {
        let spec = &specs[i];
        tokio::time::sleep_until(t0 + Duration::from_millis(spec.start_ms)).await;
        let obeys = if spec.obeys { Obeys::Yes } else { Obeys::No };
        let body = poller(&board, Duration::from_millis(spec.work_ms), obeys);
        let tasks = Tasks::new(HOLDERS[i]);
        tasks.run_singleton(&Context::background(), lease(&store, HOLDERS[i]), body);
        replicas[i] = Some(tasks);
    }

    let mut drains = Vec::new();
    let mut drained = vec![false; n];
    for step in &steps {
        match *step {
            Step::AdvanceMs(ms) => sleep(Duration::from_millis(ms)).await,
            Step::Fault {
                replica,
                call,
                fault,
            } => {
                let fault = match fault {
                    FaultSpec::Fail => Fault::Fail,
                    FaultSpec::Hang => Fault::Hang,
                    FaultSpec::DelayMs(ms) => Fault::Delay(Duration::from_millis(ms)),
                };
                store.set(HOLDERS[replica % n], Call::ALL[call], fault);
            }
            Step::Heal(replica) => store.set_all(HOLDERS[replica % n], Fault::Pass),
            Step::Revoke => {
                store.revoke(NAME);
            }
            Step::Outage(down) => store.memory().set_unavailable(down),
            Step::Drain(replica) => {
                let i = replica % n;
                let live = drained.iter().filter(|d| !**d).count();
                if !drained[i] && live > 1 {
                    drained[i] = true;
                    let tasks = replicas[i].clone().expect("started");
                    drains.push(tokio::spawn(async move { tasks.drain(LIMIT).await }));
                }
            }
        }
    }

    // The store heals, and stays healthy.
    for holder in &HOLDERS[..n] {
        store.set_all(holder, Fault::Pass);
    }
    store.memory().set_unavailable(false);
    sleep(QUIET).await;

    let terms = store.terms();
    let runs = board.runs();
    check_runs_within_their_terms(&terms, &runs)?;
    check_no_overlap_while_valid(&terms, &runs)?;
    check_fences(&terms, &runs, n)?;

    // 4. Eventually exactly one leader.
    for drain in drains {
        prop_assert!(
            drain.is_finished(),
            "a drain did not end once the store healed"
        );
        prop_assert!(drain.await.unwrap().is_ok());
    }
    let leading: Vec<(usize, async_tasks::lease::Term)> = (0..n)
        .filter(|&i| !drained[i])
        .filter_map(|i| Some((i, term_of(replicas[i].as_ref()?)?)))
        .collect();
    prop_assert_eq!(leading.len(), 1, "leaders: {:?}", leading);
    let (leader, term) = &leading[0];
    prop_assert_eq!(term.holder(), HOLDERS[*leader]);
    let held = store.memory().holder(NAME);
    prop_assert_eq!(held.as_ref(), Some(term));
    prop_assert_eq!(board.running(), 1, "the leader's body runs");
    let running: Vec<&RunRecord> = runs.iter().filter(|run| run.ended.is_none()).collect();
    prop_assert_eq!(running.len(), 1);
    prop_assert_eq!(running[0].fence, term.fence());

    for tasks in replicas.into_iter().flatten() {
        let report = tasks.shutdown_report(Duration::from_secs(1)).await;
        prop_assert_eq!(tasks.running(), 0, "{}", report);
    }
    prop_assert_eq!(store.memory().holder(NAME), None, "released at the end");
    Ok(())
}

/// The term a run ran under.
fn term_for<'a>(terms: &'a [Held], run: &RunRecord) -> &'a Held {
    terms
        .iter()
        .find(|held| held.term.fence() == run.fence)
        .expect("a run's fence is a granted term's")
}

/// 1. Every run starts before its term's expiry in the store and ends no later than it.
fn check_runs_within_their_terms(terms: &[Held], runs: &[RunRecord]) -> Result<(), TestCaseError> {
    let now = Instant::now();
    for run in runs {
        let held = term_for(terms, run);
        prop_assert_eq!(held.term.holder(), run.holder.as_str());
        prop_assert!(held.granted <= run.started, "{:?} before {:?}", run, held);
        prop_assert!(run.started < held.expires, "{:?} after {:?}", run, held);
        let end = run.ended.map_or(now, |(at, _)| at);
        prop_assert!(
            end <= held.expires,
            "{:?} ran {:?} past its term's expiry {:?}",
            run,
            end - held.expires,
            held
        );
    }
    Ok(())
}

/// 2. The runs of a term that was not revoked end before the runs of any later term start;
///    a released term's runs end before its release.
fn check_no_overlap_while_valid(terms: &[Held], runs: &[RunRecord]) -> Result<(), TestCaseError> {
    let now = Instant::now();
    // The earliest start of a run of any term after the i-th.
    let mut first_later: Vec<Option<(Instant, u64)>> = vec![None; terms.len()];
    let mut earliest: Option<(Instant, u64)> = None;
    for i in (0..terms.len()).rev() {
        first_later[i] = earliest;
        for run in runs.iter().filter(|run| run.fence == terms[i].term.fence()) {
            let start = (run.started, run.started_seq);
            earliest = Some(earliest.map_or(start, |e| e.min(start)));
        }
    }
    for (i, held) in terms.iter().enumerate() {
        let revoked = matches!(held.ended, Some((_, _, Ended::Revoked)));
        for run in runs.iter().filter(|run| run.fence == held.term.fence()) {
            let (end, end_seq) = run.ended.unwrap_or((now, u64::MAX));
            if let Some((_, release_seq, Ended::Released)) = held.ended {
                prop_assert!(end_seq < release_seq, "{:?} ended after {:?}", run, held);
            }
            if revoked {
                continue;
            }
            if let Some((start, _)) = first_later[i] {
                prop_assert!(
                    end <= start,
                    "{:?} (term {:?}) overlaps a later term's run from {:?}",
                    run,
                    held,
                    start
                );
            }
        }
    }
    Ok(())
}

/// 3. Fences grow strictly in the order terms were granted, and each replica's runs see
///    theirs grow.
fn check_fences(terms: &[Held], runs: &[RunRecord], n: usize) -> Result<(), TestCaseError> {
    for pair in terms.windows(2) {
        prop_assert!(pair[1].term.fence() > pair[0].term.fence());
        prop_assert!(pair[1].granted_seq > pair[0].granted_seq);
    }
    for holder in &HOLDERS[..n] {
        let fences: Vec<u64> = runs
            .iter()
            .filter(|run| run.holder == *holder)
            .map(|run| run.fence)
            .collect();
        prop_assert!(
            fences.windows(2).all(|w| w[0] <= w[1]),
            "{}: {:?}",
            holder,
            fences
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(support::proptest_config(0x51_6e_67_1e))]

    #[test]
    fn the_leader_state_machine_keeps_its_invariants(
        specs in prop::collection::vec(replica_strategy(), 2..=4),
        steps in prop::collection::vec(step_strategy(), 1..48),
    ) {
        run_case(specs, steps)?;
    }
}
