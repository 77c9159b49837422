//! `Tasks::run_singleton` as a service uses it: several replicas (each a `Tasks` of its
//! own) in one process, on a lease store that injects faults per replica
//! (`support/faulty_leases.rs`), each running a body that enters a shared board of who runs
//! now (`support/board.rs`). Everything runs on tokio's paused clock, so every instant
//! asserted is exact.
//!
//! The lease's timings are client-go's defaults: ttl 15 s, renew_deadline 10 s,
//! retry_every 2 s, so a lost term's runs get a grace of 5 s. A replica that starts at `t`
//! tries to take the lease at `t`, `t + 2 s`, ...; once it leads under a term acquired at
//! `t`, it renews at `t + 2 s`, `t + 4 s`, ...
//!
//! `singleton_props.rs` checks the same state machine against a model, on random schedules.

mod support;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::lease::{Lease, LossReason, MemoryLeases, Term};
use async_tasks::task::{LoopPolicy, ShuttingDown, StopLoop, TaskKind};
use async_tasks::testing::SpanRecorder;
use async_tasks::{Context, Func, Runner, Tasks};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Level;

use support::board::{Board, Obeys, poller};
use support::faulty_leases::{Answer, Call, Fault, FaultyLeases};
use support::{LIMIT, Rng};

const TTL: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(2);
const GRACE: Duration = Duration::from_secs(5);
const MS: Duration = Duration::from_millis(1);
const NAME: &str = "poller";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The lease every replica campaigns for, held in `store` under `holder`.
fn lease(store: &FaultyLeases, holder: &str) -> Lease {
    Lease::new(NAME, store.clone())
        .holder(holder)
        .ttl(TTL)
        .renew_deadline(RENEW_DEADLINE)
        .retry_every(RETRY)
}

/// A replica named `holder`: a `Tasks` of its own, running `runner` as the singleton.
fn replica(store: &FaultyLeases, holder: &'static str, runner: impl Runner + 'static) -> Tasks {
    let tasks = Tasks::new(holder);
    tasks.run_singleton(&Context::background(), lease(store, holder), runner);
    tasks
}

/// The term a replica's snapshot says it leads under.
fn term_of(tasks: &Tasks) -> Option<Term> {
    let snapshot = tasks.snapshot();
    let singletons: Vec<_> = snapshot
        .tasks
        .iter()
        .filter(|task| task.kind == TaskKind::Singleton)
        .collect();
    assert_eq!(singletons.len(), 1, "{snapshot:?}");
    singletons[0].term.clone()
}

/// The names of the replicas whose snapshot says they lead.
fn leaders<'a>(replicas: &'a [(&'static str, Tasks)]) -> Vec<&'a str> {
    replicas
        .iter()
        .filter(|(_, tasks)| term_of(tasks).is_some())
        .map(|(name, _)| *name)
        .collect()
}

async fn shut_down(replicas: &[(&'static str, Tasks)]) {
    for (_, tasks) in replicas {
        let report = tasks.shutdown_report(LIMIT).await;
        assert!(report.aborted.is_empty(), "{report}");
    }
}

/// `n` replicas start within one `retry_every` of each other (all at once in the first
/// round) and run for a minute, their bodies taking 300 ms an iteration: at every 50 ms
/// step exactly one leads, by its snapshot and by the store, and at no instant do two
/// bodies run.
async fn race_from_cold(n: usize, rounds: u64) {
    let mut rng = Rng(0x5eed + n as u64);
    for round in 0..rounds {
        let store = FaultyLeases::new();
        let board = Board::new();
        let t0 = Instant::now();
        let mut offsets: Vec<Duration> = (0..n)
            .map(|_| match round {
                0 => Duration::ZERO,
                _ => Duration::from_millis(rng.below(2000)),
            })
            .collect();
        offsets.sort();
        let names = ["r1", "r2", "r3", "r4", "r5"];
        let mut replicas = Vec::new();
        for (name, offset) in names.into_iter().zip(offsets) {
            sleep_until(t0 + offset).await;
            replicas.push((
                name,
                replica(&store, name, poller(&board, secs(0.3), Obeys::Yes)),
            ));
        }
        let mut leader = None;
        let mut step = Instant::now() + MS;
        while step < t0 + Duration::from_secs(60) {
            sleep_until(step).await;
            let now_leading = leaders(&replicas);
            assert_eq!(now_leading.len(), 1, "round {round} at {:?}", t0.elapsed());
            let held = store.memory().holder(NAME).expect("a holder");
            assert_eq!(held.holder(), now_leading[0]);
            assert!(board.running() <= 1);
            // Nothing takes the lease away: the first leader keeps it.
            assert_eq!(*leader.get_or_insert(held.clone()), held, "round {round}");
            step += Duration::from_millis(50);
        }
        assert_eq!(board.most(), 1, "round {round}: two bodies ran at once");
        let runs = board.runs();
        assert!(runs.len() >= 190, "round {round}: {} runs", runs.len());
        assert!(runs.iter().all(|run| run.fence == 1));
        shut_down(&replicas).await;
        assert_eq!(store.memory().holder(NAME), None, "released at the end");
    }
}

#[tokio::test(start_paused = true)]
async fn two_replicas_racing_from_cold_one_leads_at_every_instant() {
    timeout(LIMIT, race_from_cold(2, 20)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn five_replicas_racing_from_cold_one_leads_at_every_instant() {
    timeout(LIMIT, race_from_cold(5, 20)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_revoke_mid_iteration_cancels_the_run_as_not_held_and_another_replica_takes_over() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::Yes));
    // b tries at 1.5 s, 3.5 s, ...: between the revoke and a's next renew.
    sleep_until(t0 + secs(1.5)).await;
    let b = replica(&store, "b", poller(&board, LIMIT, Obeys::Yes));

    sleep_until(t0 + secs(3.0)).await;
    let revoked = store.revoke(NAME).expect("a held the lease");
    assert_eq!((revoked.holder(), revoked.fence()), ("a", 1));
    assert_eq!(board.running(), 1, "a's run goes on until a learns of it");

    sleep_until(t0 + secs(6.0)).await;
    let a_runs = board.runs_of("a");
    assert_eq!(a_runs.len(), 1);
    let lost = a_runs[0].lost().expect("canceled with LeaseLost");
    assert!(matches!(lost.reason(), LossReason::NotHeld), "{lost}");
    assert_eq!((lost.name(), lost.fence()), (NAME, 1));
    assert!(!a_runs[0].dropped, "it stopped when asked");
    // a learnt it at its next renew, and its run stopped at once.
    assert_eq!(a_runs[0].end(), store.last_good_renew("a", 1) + RETRY);
    assert_eq!(a_runs[0].end(), t0 + secs(4.0));

    let b_runs = board.runs_of("b");
    assert_eq!(b_runs.len(), 1);
    assert_eq!(b_runs[0].fence, 2, "a higher fence");
    assert_eq!(b_runs[0].started, t0 + secs(3.5));
    assert!(b_runs[0].ended.is_none());
    assert_eq!(term_of(&a), None);
    assert_eq!(term_of(&b).map(|t| t.fence()), Some(2));
    assert_eq!(store.memory().holder(NAME).unwrap().holder(), "b");
    shut_down(&[("a", a), ("b", b)]).await;
}

#[tokio::test(start_paused = true)]
async fn a_renew_that_hangs_forever_cancels_the_runs_at_the_last_good_renew_plus_renew_deadline() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + secs(5.0)).await;
    // The renew at 6 s never answers; the one at 4 s was the last good one.
    store.set("a", Call::Renew, Fault::Hang);

    sleep_until(t0 + secs(14.0) - MS).await;
    assert_eq!(board.running(), 1, "not canceled before its deadline");
    sleep_until(t0 + secs(14.5)).await;
    let run = &board.runs_of("a")[0];
    let last_good = store.last_good_renew("a", 1);
    assert_eq!(last_good, t0 + secs(4.0));
    assert_eq!(
        run.end(),
        last_good + RENEW_DEADLINE,
        "exactly at the deadline"
    );
    let lost = run.lost().expect("canceled with LeaseLost");
    assert!(
        matches!(lost.reason(), LossReason::RenewTimedOut { renew_deadline } if *renew_deadline == RENEW_DEADLINE),
        "{lost}"
    );
    assert_eq!(
        lost.to_string(),
        "lease \"poller\" lost (fence 1): no renew succeeded within 10s"
    );
    // The hung renew was given up, the term released after the run stopped, and a campaign
    // started again at once: the lease is a's again, under a new term.
    let log = store.log();
    let hung = log
        .iter()
        .find(|l| l.call == Call::Renew && l.answer == Answer::Dropped)
        .expect("the hung renew was dropped");
    assert_eq!(
        (hung.started, hung.answered),
        (t0 + secs(6.0), t0 + secs(14.0))
    );
    let release = log
        .iter()
        .find(|l| l.call == Call::Release && l.fence == Some(1))
        .expect("released");
    assert!(
        release.seq > run.ended.unwrap().1,
        "released after the run ended"
    );
    assert_eq!(release.answered, t0 + secs(14.0));
    assert_eq!(term_of(&a).map(|t| t.fence()), Some(2));
    assert_eq!(board.most(), 1);
    shut_down(&[("a", a)]).await;
}

#[tokio::test(start_paused = true)]
async fn a_store_down_for_longer_than_renew_deadline_fails_the_term_and_one_leads_after() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    let b = replica(&store, "b", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(5.0)).await;
    store.memory().set_unavailable(true);

    sleep_until(t0 + secs(30.0)).await;
    let a_runs = board.runs_of("a");
    let last = a_runs.last().unwrap();
    assert_eq!(
        last.end(),
        t0 + secs(14.0),
        "the last good renew (4 s) + renew_deadline"
    );
    let lost = last.lost().expect("canceled with LeaseLost");
    let LossReason::StoreFailed {
        renew_deadline,
        error,
    } = lost.reason()
    else {
        panic!("{lost}");
    };
    assert_eq!(*renew_deadline, RENEW_DEADLINE);
    assert!(error.to_string().contains("unavailable"), "{error}");
    assert!(
        std::error::Error::source(lost)
            .unwrap()
            .to_string()
            .contains("unavailable")
    );
    assert!(board.runs_of("b").is_empty());
    assert_eq!(board.running(), 0);
    let replicas = [("a", a), ("b", b)];
    assert!(
        leaders(&replicas).is_empty(),
        "no one leads while the store is down"
    );

    // Campaigns went on, each failure a WARN, none a crash.
    let warnings = recorder
        .events()
        .into_iter()
        .filter(|e| e.level() == Level::WARN)
        .filter_map(|e| e.message().map(str::to_owned))
        .filter(|m| m.starts_with("could not campaign for lease \"poller\""))
        .count();
    assert!(warnings >= 10, "{warnings} campaign warnings");

    store.memory().set_unavailable(false);
    let back = Instant::now();
    sleep_until(back + RETRY + MS).await;
    let leading = leaders(&replicas);
    assert_eq!(leading.len(), 1, "{leading:?}");
    let held = store.memory().holder(NAME).unwrap();
    assert_eq!((held.holder(), held.fence()), (leading[0], 2));
    let first_after = board.runs().into_iter().find(|run| run.fence == 2).unwrap();
    assert!(first_after.started - back <= RETRY);
    assert_eq!(board.most(), 1);
    shut_down(&replicas).await;
}

#[tokio::test(start_paused = true)]
async fn a_drained_leader_finishes_its_iteration_releases_at_once_and_another_leads_within_retry_every()
 {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(5.0), Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    let b = replica(&store, "b", poller(&board, secs(5.0), Obeys::Yes));
    sleep_until(t0 + secs(5.5)).await;

    // a's second iteration runs from 5 s to 10 s: the drain lets it finish.
    timeout(LIMIT, a.drain(LIMIT)).await.unwrap().unwrap();
    let drained = Instant::now();
    assert_eq!(drained, t0 + secs(10.0));
    let a_runs = board.runs_of("a");
    assert_eq!(a_runs.len(), 2, "no iteration started after the drain");
    assert!(
        a_runs[1].cause.is_none(),
        "the iteration in flight was not canceled"
    );
    assert_eq!(a_runs[1].end(), drained);
    // It kept renewing while the iteration finished.
    let renewed_meanwhile = store
        .log()
        .iter()
        .filter(|l| l.holder == "a" && l.answer == Answer::Renewed(true))
        .filter(|l| l.started > t0 + secs(5.5))
        .count();
    assert_eq!(renewed_meanwhile, 2, "renews at 6 s and 8 s");
    assert_eq!(store.memory().holder(NAME), None, "released at once");

    sleep_until(drained + RETRY + MS).await;
    let b_runs = board.runs_of("b");
    assert_eq!(b_runs[0].fence, 2);
    assert!(b_runs[0].started - drained <= RETRY);
    assert_eq!(
        b_runs[0].started,
        t0 + secs(11.0),
        "b's first try after the drain"
    );
    assert_eq!(board.most(), 1);
    shut_down(&[("a", a), ("b", b)]).await;
}

#[tokio::test(start_paused = true)]
async fn a_replica_cut_off_from_the_store_is_replaced_within_ttl_plus_retry_every() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(0.3), Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    let b = replica(&store, "b", poller(&board, secs(0.3), Obeys::Yes));
    sleep_until(t0 + secs(5.0)).await;
    let died = Instant::now();
    store.set_all("a", Fault::Hang);

    sleep_until(died + TTL + RETRY + MS).await;
    let b_first = board.runs_of("b").into_iter().next().expect("b leads");
    assert!(b_first.started - died <= TTL + RETRY);
    // a's term, last renewed at 4 s, expired in the store at 19 s, b's try then took it.
    let a_term = &store.terms()[0];
    assert_eq!(a_term.expires, t0 + secs(19.0));
    assert_eq!(b_first.started, a_term.expires);
    // a gave up at 14 s (its renews hung), so its body had stopped before b's started.
    let a_last = board.runs_of("a").pop().unwrap();
    assert_eq!(a_last.end(), t0 + secs(14.0));
    assert_eq!(board.most(), 1, "never two bodies at once");
    store.set_all("a", Fault::Pass);
    shut_down(&[("a", a), ("b", b)]).await;
}

#[tokio::test(start_paused = true)]
async fn shutting_down_a_leader_cancels_its_run_then_releases_and_the_report_names_it() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + secs(3.0)).await;
    let report = timeout(LIMIT, a.shutdown_report(LIMIT)).await.unwrap();
    assert_eq!(
        Instant::now(),
        t0 + secs(3.0),
        "no wait: the run stopped at once"
    );
    assert_eq!(report.finished, [NAME]);
    assert_eq!(
        report.to_string(),
        "1 finished (poller), 0 canceled, 0 failed, 0 panicked, 0 aborted"
    );
    let run = &board.runs_of("a")[0];
    assert!(run.cause.as_ref().unwrap().is::<ShuttingDown>());
    let release = store
        .log()
        .into_iter()
        .find(|l| l.call == Call::Release)
        .expect("released");
    assert_eq!(release.answer, Answer::Released);
    assert!(release.seq > run.ended.unwrap().1, "after the run ended");
    assert_eq!(store.memory().holder(NAME), None);
    assert_eq!(a.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutting_down_a_follower_ends_its_campaign_and_the_report_names_it() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    let b = replica(&store, "b", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(6.0)).await;
    let report = timeout(LIMIT, b.shutdown_report(LIMIT)).await.unwrap();
    assert_eq!(Instant::now(), t0 + secs(6.0));
    assert_eq!(report.finished, [NAME]);
    assert_eq!(b.running(), 0);
    let tries = |store: &FaultyLeases| {
        store
            .log()
            .iter()
            .filter(|l| l.holder == "b" && l.call == Call::Acquire)
            .count()
    };
    assert_eq!(tries(&store), 3, "at 1, 3 and 5 s");
    sleep_until(t0 + secs(20.0)).await;
    assert_eq!(tries(&store), 3, "no campaign after the shutdown");
    assert!(board.runs_of("b").is_empty());
    assert_eq!(term_of(&a).map(|t| t.fence()), Some(1), "a leads on");
    shut_down(&[("a", a)]).await;
}

#[tokio::test(start_paused = true)]
async fn fences_strictly_increase_across_terms_and_each_run_sees_its_own() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let mut replicas = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        sleep_until(t0 + secs(0.7 * i as f64)).await;
        replicas.push((
            name,
            replica(&store, name, poller(&board, secs(0.4), Obeys::Yes)),
        ));
    }
    // Take the lease away every 7 s, and cut the leader off from the store for a while
    // every 31 s: terms end by revokes, by timeouts, and by releases.
    let mut next = t0 + secs(7.0);
    for round in 1..=30 {
        sleep_until(next).await;
        if round % 4 == 0 {
            if let Some(held) = store.memory().holder(NAME) {
                let holder = held.holder().to_owned();
                store.set("a", Call::Renew, Fault::Pass);
                store.set(&holder, Call::Renew, Fault::Fail);
                sleep_until(next + RENEW_DEADLINE + RETRY).await;
                store.set(&holder, Call::Renew, Fault::Pass);
            }
        } else {
            store.revoke(NAME);
        }
        next = Instant::now() + secs(7.0);
    }
    shut_down(&replicas).await;

    let terms = store.terms();
    assert!(terms.len() >= 25, "{} terms", terms.len());
    for pair in terms.windows(2) {
        assert!(pair[1].term.fence() > pair[0].term.fence(), "{pair:?}");
        assert!(pair[1].granted_seq > pair[0].granted_seq);
    }
    let runs = board.runs();
    for run in &runs {
        let term = terms
            .iter()
            .find(|held| held.term.fence() == run.fence)
            .expect("a run's fence is a granted term's");
        assert_eq!(term.term.holder(), run.holder, "{run:?}");
        assert!(term.granted <= run.started, "{run:?}");
        if let Some(lost) = run.lost() {
            assert_eq!(lost.fence(), run.fence, "{run:?}");
        }
    }
    // Each replica sees its fences grow, term after term.
    for (name, _) in &replicas {
        let fences: Vec<u64> = board.runs_of(name).iter().map(|run| run.fence).collect();
        assert!(
            fences.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {fences:?}"
        );
    }
    let distinct: std::collections::BTreeSet<u64> = runs.iter().map(|run| run.fence).collect();
    assert!(distinct.len() >= 20, "{distinct:?}");
}

#[tokio::test(start_paused = true)]
async fn term_current_is_the_runs_term_inside_and_none_outside_even_in_tasks_it_spawns() {
    #[derive(Debug, Default)]
    struct Seen {
        sync_part: Vec<Option<u64>>,
        body: Vec<Option<u64>>,
        spawned: Vec<Option<u64>>,
        run_of_the_set: Vec<Option<u64>>,
        beside: Vec<Option<u64>>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fence = || Term::current().map(|term| term.fence());
    let store = FaultyLeases::new();
    let tasks = Tasks::new("svc");
    let ctx = Context::background();
    let set = tasks.clone();
    let body = {
        let seen = Arc::clone(&seen);
        Func::named(NAME, move |_ctx| {
            seen.lock().unwrap().sync_part.push(fence());
            let (seen, set) = (Arc::clone(&seen), set.clone());
            async move {
                seen.lock().unwrap().body.push(fence());
                let spawned = tokio::spawn(async move { fence() }).await.unwrap();
                seen.lock().unwrap().spawned.push(spawned);
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                set.run(
                    &Context::background(),
                    Func::new(move |_ctx| {
                        let _ = tx.send(fence());
                        async { Ok(()) }
                    }),
                );
                let in_run = rx.recv().await.unwrap();
                seen.lock().unwrap().run_of_the_set.push(in_run);
                Err(StopLoop.into())
            }
        })
    };
    tasks.run_singleton(&ctx, lease(&store, "a"), body);
    let beside = {
        let seen = Arc::clone(&seen);
        Func::named("beside", move |_ctx| {
            seen.lock().unwrap().beside.push(fence());
            async { Err(StopLoop.into()) }
        })
    };
    tasks.run_loop(&ctx, beside);
    assert_eq!(fence(), None, "outside any task");
    timeout(LIMIT, tasks.wait()).await.unwrap();

    let seen = seen.lock().unwrap();
    let term = store.terms()[0].term.clone();
    assert_eq!(term.fence(), 1);
    assert_eq!(
        seen.sync_part,
        [Some(1)],
        "the runner's call, before its future"
    );
    assert_eq!(seen.body, [Some(1)]);
    assert_eq!(seen.spawned, [None], "a tokio task the run spawned");
    assert_eq!(seen.run_of_the_set, [None], "a run the run started");
    assert_eq!(seen.beside, [None], "another task of the same set");
    assert_eq!(fence(), None);
}

/// A body that ignores its context, after the lease is lost in two ways: a revoke (the
/// next renew says so; the run has `ttl - renew_deadline` from then) and renews that hang
/// (the leader gives up at `renew_deadline`; the run has until the term's expiry, which is
/// the same `ttl - renew_deadline` later).
#[tokio::test(start_paused = true)]
async fn a_body_that_ignores_cancellation_is_aborted_after_its_grace_then_the_lease_is_released() {
    for revoked in [true, false] {
        let recorder = SpanRecorder::install();
        let store = FaultyLeases::new();
        let board = Board::new();
        let t0 = Instant::now();
        let a = replica(&store, "a", poller(&board, LIMIT, Obeys::No));
        sleep_until(t0 + secs(3.0)).await;
        if revoked {
            store.revoke(NAME);
        } else {
            store.set("a", Call::Renew, Fault::Hang);
        }
        // Lost at 4 s (the renew says so), or at 2 s + 10 s (the last good renew + renew_deadline).
        let (lost_at, expected) = if revoked {
            (t0 + secs(4.0), "not_held")
        } else {
            (t0 + secs(12.0), "renew_timed_out")
        };
        let aborted_at = lost_at + GRACE;
        sleep_until(aborted_at - MS).await;
        assert_eq!(board.running(), 1, "still in its grace");
        sleep_until(aborted_at + MS).await;
        let run = &board.runs_of("a")[0];
        assert!(run.dropped, "aborted");
        assert_eq!(run.end(), aborted_at, "exactly at the end of its grace");
        if !revoked {
            assert_eq!(
                run.end(),
                store.terms()[0].expires,
                "never past the term's expiry"
            );
        }

        let events = recorder.events();
        let warn = events
            .iter()
            .find(|e| e.level() == Level::WARN && e.field("fence") == Some("1"))
            .expect("a WARN for the loss");
        let message = warn.message().unwrap();
        assert!(
            message.starts_with("lease \"poller\" lost (fence 1)"),
            "{message}"
        );
        let error = events
            .iter()
            .find(|e| e.level() == Level::ERROR)
            .expect("an ERROR for the abort");
        assert_eq!(
            error.message(),
            Some(
                "the run under lease \"poller\" (fence 1) did not stop within its grace after \
                 the lease was lost: aborted"
            )
        );
        assert_eq!(error.field("lease"), Some(NAME));
        let release = store
            .log()
            .into_iter()
            .find(|l| l.call == Call::Release && l.fence == Some(1))
            .expect("a release of the lost term");
        assert!(
            release.seq > run.ended.unwrap().1,
            "released after the abort"
        );
        assert_eq!(release.started, aborted_at);
        // The body never returned, so its record has no cause: the WARN says the reason.
        let reason_text = match expected {
            "not_held" => "the store says another holder has it or it expired",
            _ => "no renew succeeded within 10s",
        };
        assert!(message.contains(reason_text), "{message}");
        store.set("a", Call::Renew, Fault::Pass);
        let report = a.shutdown_report(Duration::from_secs(1)).await;
        // The second term's body ignores its context too: aborted by the report.
        assert_eq!(report.aborted, [NAME], "{report}");
    }
}

/// The context ends while `try_acquire` is in flight, and the store grants it afterwards:
/// the singleton waits for the answer (up to `renew_deadline`) and releases what it got;
/// an answer later than that is released by whoever still waits for it.
#[tokio::test(start_paused = true)]
async fn a_canceled_acquire_releases_what_the_store_granted() {
    let granted_and_released = |store: &FaultyLeases| {
        let log = store.log();
        let granted = log
            .iter()
            .find(|l| l.answer == Answer::Granted(1))
            .expect("granted")
            .clone();
        let released = log
            .iter()
            .find(|l| l.call == Call::Release && l.fence == Some(1))
            .expect("released")
            .clone();
        assert_eq!(released.answer, Answer::Released);
        assert!(released.seq > granted.seq);
        (granted.answered, released.answered)
    };

    // The store answers 3 s after the call, 2 s after the context ended.
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    store.set("a", Call::Acquire, Fault::Delay(secs(3.0)));
    let tasks = Tasks::new("a");
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_singleton(&ctx, lease(&store, "a"), poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    cancel.cancel();
    timeout(LIMIT, tasks.wait()).await.unwrap();
    assert_eq!(Instant::now(), t0 + secs(3.0), "it waited for the answer");
    assert_eq!(
        granted_and_released(&store),
        (t0 + secs(3.0), t0 + secs(3.0))
    );
    assert_eq!(store.memory().holder(NAME), None, "nothing leaked");
    assert!(board.runs().is_empty(), "no body ran under it");

    // The store answers long after: the singleton ends after `renew_deadline`, and the
    // call, handed over, is released when it is granted.
    let store = FaultyLeases::new();
    let t0 = Instant::now();
    store.set("a", Call::Acquire, Fault::Hang);
    let tasks = Tasks::new("a");
    let (ctx, cancel) = Context::background().with_cancel();
    tasks.run_singleton(&ctx, lease(&store, "a"), poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + secs(1.0)).await;
    let report = timeout(LIMIT, async {
        cancel.cancel();
        tasks.shutdown_report(LIMIT).await
    })
    .await
    .unwrap();
    assert_eq!(
        Instant::now(),
        t0 + secs(11.0),
        "waited renew_deadline for the answer"
    );
    assert_eq!(report.finished, [NAME]);
    sleep_until(t0 + secs(20.0)).await;
    store.set("a", Call::Acquire, Fault::Pass);
    sleep_until(t0 + secs(20.0) + MS).await;
    assert_eq!(
        granted_and_released(&store),
        (t0 + secs(20.0), t0 + secs(20.0))
    );
    assert_eq!(store.memory().holder(NAME), None, "nothing leaked");

    // An acquire that hangs past `renew_deadline` while campaigning is given up (a WARN),
    // the campaign goes on, and the late grant is released, not kept by a second holder id.
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let t0 = Instant::now();
    store.set("a", Call::Acquire, Fault::Hang);
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + secs(12.0)).await;
    store.set("a", Call::Acquire, Fault::Pass);
    sleep_until(t0 + secs(20.0)).await;
    let term = term_of(&a).expect("a leads");
    assert_eq!(store.memory().holder(NAME), Some(term.clone()));
    let gave_up = recorder
        .events()
        .into_iter()
        .filter(|e| e.level() == Level::WARN)
        .filter(|e| {
            e.message()
                .is_some_and(|m| m.contains("did not answer within 10s"))
        })
        .count();
    assert_eq!(gave_up, 1);
    // Both hung calls reach the store when it heals, in either order: the given-up one's
    // grant (if it got one) is released, the campaign's is kept.
    let released: Vec<u64> = store
        .log()
        .iter()
        .filter(|l| l.call == Call::Release)
        .filter_map(|l| l.fence)
        .collect();
    let others: Vec<u64> = store
        .terms()
        .iter()
        .map(|held| held.term.fence())
        .filter(|fence| *fence != term.fence())
        .collect();
    assert!(others.len() <= 1, "{:?}", store.terms());
    assert_eq!(released, others, "late grants released, the live term kept");
    shut_down(&[("a", a)]).await;
}

#[tokio::test(start_paused = true)]
async fn snapshot_lists_the_singleton_with_its_term_while_leading_and_none_while_following() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(1.5)).await;
    let b = replica(&store, "b", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(2.2)).await;

    let a_info = &a.snapshot().tasks[0];
    assert_eq!(
        (a_info.name.as_str(), a_info.kind),
        (NAME, TaskKind::Singleton)
    );
    let term = a_info.term.clone().expect("a leads");
    assert_eq!((term.name(), term.holder(), term.fence()), (NAME, "a", 1));
    assert_eq!(a_info.iteration, Some(5), "iterations at 0, 0.5, ... 2 s");
    let b_info = &b.snapshot().tasks[0];
    assert_eq!(
        (b_info.name.as_str(), b_info.kind),
        (NAME, TaskKind::Singleton)
    );
    assert_eq!(b_info.term, None, "b follows");
    assert_eq!(b_info.iteration, Some(0), "b never ran an iteration");

    store.revoke(NAME);
    sleep_until(t0 + secs(4.2)).await;
    assert_eq!(term_of(&a), None, "a learnt it lost the lease at 4 s");
    let b_term = term_of(&b).expect("b took over at 3.5 s");
    assert_eq!((b_term.holder(), b_term.fence()), ("b", 2));
    shut_down(&[("a", a), ("b", b)]).await;
}

#[tokio::test(start_paused = true)]
async fn timings_that_break_the_rule_panic_at_the_call_naming_the_rule() {
    let tasks = Tasks::new("svc");
    let cases = [
        (secs(10.0), secs(10.0), secs(2.0)),
        (secs(15.0), secs(2.0), secs(2.0)),
        (secs(15.0), secs(10.0), Duration::ZERO),
    ];
    for (ttl, renew_deadline, retry_every) in cases {
        let lease = Lease::new(NAME, MemoryLeases::new())
            .ttl(ttl)
            .renew_deadline(renew_deadline)
            .retry_every(retry_every);
        let start = AssertUnwindSafe(|| {
            tasks.run_singleton(
                &Context::background(),
                lease,
                Func::new(|_ctx| async { Ok(()) }),
            );
        });
        let payload = std::panic::catch_unwind(start).expect_err("a panic");
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert_eq!(
            *message,
            format!(
                "lease `poller`: its timings must keep ttl > renew_deadline > retry_every > 0 \
                 (got ttl {ttl:?}, renew_deadline {renew_deadline:?}, retry_every {retry_every:?})"
            )
        );
    }
    assert_eq!(tasks.running(), 0, "nothing started");
    assert!(tasks.snapshot().tasks.is_empty());
}

/// The loop ends by itself — `StopLoop`, a failure its policy does not retry, a panic —
/// while this replica leads: the singleton ends, the lease is released at once, a failure
/// or a panic is reported as a loop's is, and another replica takes over within
/// `retry_every`.
#[tokio::test(start_paused = true)]
async fn the_loop_ending_by_itself_ends_the_singleton_and_releases_the_lease() {
    #[derive(Clone, Copy, Debug)]
    enum End {
        Stop,
        Fail,
        Panic,
    }
    for end in [End::Stop, End::Fail, End::Panic] {
        let recorder = SpanRecorder::install();
        let store = FaultyLeases::new();
        let board = Board::new();
        let t0 = Instant::now();
        let a = Tasks::new("a");
        a.run_singleton_with(
            &Context::background(),
            lease(&store, "a"),
            Func::named(NAME, move |_ctx| async move {
                tokio::time::sleep(secs(1.0)).await;
                match end {
                    End::Stop => Err(StopLoop.into()),
                    End::Fail => Err("the queue is gone".into()),
                    End::Panic => panic!("invariant broken"),
                }
            }),
            LoopPolicy::every(secs(1.0)),
        );
        let b = replica(&store, "b", poller(&board, LIMIT, Obeys::Yes));
        timeout(LIMIT, a.wait()).await.unwrap();
        assert_eq!(Instant::now(), t0 + secs(1.0), "{end:?}");
        assert_eq!(
            store.memory().holder(NAME),
            None,
            "{end:?}: released at once"
        );
        let reported: Vec<(Level, String)> = recorder
            .events()
            .iter()
            .filter(|e| e.level() == Level::ERROR)
            .map(|e| (e.level(), e.message().unwrap_or_default().to_owned()))
            .collect();
        let expected = match end {
            End::Stop => vec![],
            End::Fail => vec![(
                Level::ERROR,
                "task \"poller\" failed: the queue is gone".to_owned(),
            )],
            End::Panic => vec![(
                Level::ERROR,
                "task \"poller\" panicked: invariant broken".to_owned(),
            )],
        };
        assert_eq!(reported, expected, "{end:?}");
        sleep_until(t0 + secs(1.0) + RETRY + MS).await;
        let b_term = term_of(&b).expect("b took over");
        assert_eq!(b_term.fence(), 2);
        assert_eq!(board.runs_of("b")[0].started, t0 + secs(2.0));
        shut_down(&[("b", b)]).await;
    }
}

/// A span per term (`lease.name`, `lease.holder`, `lease.fence`) under the span current
/// where `run_singleton` was called, its iterations' spans under it; an INFO event when the
/// replica takes the lease and a WARN with the reason when it loses it, both in the term's
/// span; the term's span closes once its term is over.
#[tokio::test(start_paused = true)]
async fn each_term_has_a_span_over_its_iterations_and_events_when_taken_and_lost() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let tasks = Tasks::new("a");
    tracing::info_span!("replica").in_scope(|| {
        tasks.run_singleton(
            &Context::background(),
            lease(&store, "a"),
            poller(&board, secs(0.75), Obeys::Yes),
        );
    });
    sleep_until(t0 + secs(3.5)).await;
    store.revoke(NAME);
    sleep_until(t0 + secs(4.5)).await;

    let terms = recorder.spans_named("lease");
    assert_eq!(terms.len(), 2, "{}", recorder.tree());
    let first = &terms[0];
    assert_eq!(first.field("lease.name"), Some(NAME));
    assert_eq!(first.field("lease.holder"), Some("a"));
    assert_eq!(first.field("lease.fence"), Some("1"));
    assert_eq!(first.parent().map(|p| p.name()), Some("replica"));
    assert!(
        first.is_closed(),
        "the first term is over:\n{}",
        recorder.tree()
    );
    assert_eq!(terms[1].field("lease.fence"), Some("2"));
    assert!(!terms[1].is_closed());

    let iterations: Vec<_> = recorder
        .spans_named("task")
        .into_iter()
        .filter(|span| span.parent().map(|p| p.id()) == Some(first.id()))
        .collect();
    let numbers: Vec<_> = iterations.iter().map(|s| s.field("iteration")).collect();
    let expected = ["1", "2", "3", "4", "5", "6"].map(Some);
    assert_eq!(
        numbers, expected,
        "iterations every 0.75 s, the term lost at 4 s"
    );

    let events = first.events();
    let taken = &events[0];
    assert_eq!(taken.level(), Level::INFO);
    assert_eq!(
        taken.message(),
        Some("lease \"poller\" taken: this replica leads (fence 1)")
    );
    assert_eq!(
        (
            taken.field("lease"),
            taken.field("holder"),
            taken.field("fence")
        ),
        (Some(NAME), Some("a"), Some("1"))
    );
    let lost = events
        .iter()
        .find(|e| e.level() == Level::WARN)
        .expect("a WARN when lost");
    assert_eq!(
        lost.message(),
        Some(
            "lease \"poller\" lost (fence 1): the store says another holder has it or it \
             expired: canceling its runs"
        )
    );
    assert_eq!(lost.field("fence"), Some("1"));
    shut_down(&[("a", tasks)]).await;
}

/// A leader whose body ignores the shutdown's cancellation is aborted by the report at the
/// end of its grace; the lease it held is released then (by a detached task), not left to
/// expire.
#[tokio::test(start_paused = true)]
async fn a_leader_aborted_by_a_shutdown_report_releases_its_lease() {
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::No));
    sleep_until(t0 + secs(3.0)).await;
    let report = timeout(LIMIT, a.shutdown_report(secs(1.0))).await.unwrap();
    assert_eq!(report.aborted, [NAME], "{report}");
    assert_eq!(a.running(), 0);
    sleep_until(t0 + secs(4.0) + MS).await;
    assert_eq!(
        store.memory().holder(NAME),
        None,
        "released, not left to expire"
    );
    let run = &board.runs_of("a")[0];
    let release = store
        .log()
        .into_iter()
        .find(|l| l.call == Call::Release)
        .expect("released");
    assert!(
        release.seq > run.ended.unwrap().1,
        "after the run was dropped"
    );
}

/// After a body is aborted at the end of its grace, its term is over: the term's span and
/// the aborted iteration's span close then, not whenever this replica leads again.
#[tokio::test(start_paused = true)]
async fn an_aborted_terms_spans_close_when_the_term_is_over() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::No));
    sleep_until(t0 + secs(1.5)).await;
    let b = replica(&store, "b", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(3.0)).await;
    store.revoke(NAME);
    // b takes over at 3.5 s; a learns it at 4 s and aborts its run at 9 s, then follows.
    sleep_until(t0 + secs(9.5)).await;
    assert!(board.runs_of("a")[0].dropped);
    assert_eq!(term_of(&a), None);

    let a_term = recorder
        .spans_named("lease")
        .into_iter()
        .find(|span| span.field("lease.holder") == Some("a"))
        .unwrap();
    let a_iteration = recorder
        .spans_named("task")
        .into_iter()
        .find(|span| span.parent().map(|p| p.id()) == Some(a_term.id()))
        .unwrap();
    assert!(a_iteration.is_closed(), "{}", recorder.tree());
    assert!(a_term.is_closed(), "{}", recorder.tree());
    shut_down(&[("a", a), ("b", b)]).await;
}

/// A body that returns an error when its lease is lost: the failure is reported as any
/// loop's, and the singleton goes on campaigning. When the replica is drained later, as a
/// follower, the report says it finished: how a term's run ended when the lease was lost
/// is not how the singleton ended.
#[tokio::test(start_paused = true)]
async fn a_run_that_fails_once_its_lease_is_lost_does_not_decide_how_the_singleton_ends() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = Tasks::new("a");
    a.run_singleton(
        &Context::background(),
        lease(&store, "a"),
        Func::named(NAME, |ctx: Context| async move {
            let _ = async_tasks::sleep(&ctx, LIMIT).await;
            Err("interrupted".into())
        }),
    );
    sleep_until(t0 + secs(1.5)).await;
    let b = replica(&store, "b", poller(&board, secs(0.5), Obeys::Yes));
    sleep_until(t0 + secs(3.0)).await;
    store.revoke(NAME);
    sleep_until(t0 + secs(10.0)).await;
    let failures: Vec<String> = recorder
        .events()
        .iter()
        .filter(|e| e.level() == Level::ERROR)
        .filter_map(|e| e.message().map(str::to_owned))
        .collect();
    assert_eq!(failures, ["task \"poller\" failed: interrupted"]);
    assert_eq!(a.running(), 1, "a campaigns on");
    assert_eq!(term_of(&b).map(|t| t.fence()), Some(2));

    a.drain(LIMIT).await.unwrap();
    let report = a.shutdown_report(LIMIT).await;
    assert_eq!(report.finished, [NAME], "{report}");
    assert!(report.failed.is_empty(), "{report}");
    shut_down(&[("b", b)]).await;
}

/// The same choreography on `FileLeases`, the store of the processes of one host: one
/// replica leads, a drain hands the lease over within `retry_every` under a higher fence,
/// and the last replica's shutdown leaves the lease free. (Its expiry follows the wall
/// clock, so only handovers by release are shown on the paused clock.)
#[tokio::test(start_paused = true)]
async fn on_file_leases_a_drain_hands_the_lease_over_under_a_higher_fence() {
    use async_tasks::lease::{FileLeases, LeaseStore};

    // Removed when dropped, even by a failing assert.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = FileLeases::new(dir.path()).expect("a directory");
    let board = Board::new();
    let start = |holder: &'static str| {
        let tasks = Tasks::new(holder);
        let lease = Lease::new(NAME, store.clone())
            .holder(holder)
            .ttl(TTL)
            .renew_deadline(RENEW_DEADLINE)
            .retry_every(RETRY);
        tasks.run_singleton(
            &Context::background(),
            lease,
            poller(&board, secs(0.5), Obeys::Yes),
        );
        tasks
    };
    let t0 = Instant::now();
    let a = start("a");
    sleep_until(t0 + secs(1.0)).await;
    let b = start("b");
    sleep_until(t0 + secs(6.2)).await;
    assert_eq!(term_of(&a).map(|t| t.fence()), Some(1));
    assert_eq!(term_of(&b), None);

    timeout(LIMIT, a.drain(LIMIT)).await.unwrap().unwrap();
    let drained = Instant::now();
    sleep_until(drained + RETRY + MS).await;
    let b_term = term_of(&b).expect("b took over");
    assert_eq!((b_term.holder(), b_term.fence()), ("b", 2));
    let b_first = &board.runs_of("b")[0];
    assert!(b_first.started - drained <= RETRY);
    assert_eq!(board.most(), 1);

    timeout(LIMIT, b.shutdown(LIMIT)).await.unwrap().unwrap();
    let after = store
        .try_acquire(NAME, "c", TTL)
        .await
        .unwrap()
        .expect("released by b's shutdown");
    assert_eq!(after.fence(), 3);
}

/// A follower is not silent: the first try of a campaign that finds another replica
/// leading says so, once, at INFO, with how often it tries again; the later tries say
/// nothing.
#[tokio::test(start_paused = true)]
async fn a_follower_says_once_that_another_replica_leads() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, LIMIT, Obeys::Yes));
    sleep_until(t0 + MS).await;
    assert_eq!(term_of(&a).map(|t| t.fence()), Some(1), "a leads");
    let b = replica(&store, "b", poller(&board, LIMIT, Obeys::Yes));
    // b tries at 1 ms, 2 s, 4 s, 6 s and 8 s.
    sleep_until(t0 + secs(9.0)).await;
    let tries = store
        .log()
        .iter()
        .filter(|l| l.holder == "b" && l.call == Call::Acquire)
        .count();
    assert_eq!(tries, 5);
    let following: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.message().is_some_and(|m| m.contains("following")))
        .collect();
    assert_eq!(following.len(), 1, "{following:?}");
    assert_eq!(following[0].level(), Level::INFO);
    assert_eq!(
        following[0].message(),
        Some("lease \"poller\" is held by another replica: following (trying to take it every 2s)")
    );
    assert_eq!(following[0].field("lease"), Some(NAME));
    for tasks in [a, b] {
        timeout(LIMIT, tasks.shutdown(Duration::from_secs(1)))
            .await
            .expect("bounded")
            .expect("every run obeys");
    }
}

/// A leader whose process is paused (a SIGSTOP, a suspended VM; here the clock jumps while
/// its task is not polled) past its term's expiry wakes with its run due too: the run is
/// dropped without another step, with a WARN that says the process was paused (not the
/// ERROR of a run that would not stop), then the lease is released and campaigned for
/// again at once.
#[tokio::test(start_paused = true)]
async fn a_leader_paused_past_its_term_drops_its_run_unpolled_and_says_it_was_paused() {
    let recorder = SpanRecorder::install();
    let store = FaultyLeases::new();
    let board = Board::new();
    let t0 = Instant::now();
    let a = replica(&store, "a", poller(&board, secs(1.0), Obeys::Yes));
    sleep_until(t0 + secs(2.5)).await;
    let before = board.runs_of("a").len();
    assert!(before >= 2, "a runs its iterations");
    // The whole runtime stands still for 30 s: nothing is polled while the clock moves.
    tokio::time::advance(secs(30.0)).await;
    let woke = Instant::now();
    sleep_until(woke + MS).await;
    let runs = board.runs_of("a");
    let paused_run = &runs[before - 1];
    assert!(paused_run.dropped, "the run in flight was dropped");
    assert_eq!(paused_run.end(), woke, "as the process woke");
    assert_eq!(paused_run.fence, 1);
    assert!(
        runs[before..].iter().all(|run| run.fence > 1),
        "no run of the lost term started after the pause: {runs:?}"
    );
    let events = recorder.events();
    assert!(
        events.iter().all(|e| e.level() != Level::ERROR),
        "no ERROR: the run did not refuse to stop"
    );
    let warn = events
        .iter()
        .find(|e| e.message().is_some_and(|m| m.contains("paused")))
        .expect("a WARN that says the process was paused");
    assert_eq!(warn.level(), Level::WARN);
    assert_eq!(
        warn.message(),
        Some(
            "the run under lease \"poller\" (fence 1) was dropped without another step: this \
             process was paused past the time its run had to stop"
        )
    );
    let release = store
        .log()
        .into_iter()
        .find(|l| l.call == Call::Release && l.fence == Some(1))
        .expect("the lost term released");
    assert_eq!(release.started, woke);
    assert_eq!(
        term_of(&a).map(|t| t.fence()),
        Some(2),
        "and taken again under a new term"
    );
    timeout(LIMIT, a.shutdown(Duration::from_secs(1)))
        .await
        .expect("bounded")
        .expect("every run obeys");
}
