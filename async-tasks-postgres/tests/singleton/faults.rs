//! Faults of a replica, of its connection and of the database, each with the bound it must
//! keep. Each scenario is an `async fn` that asserts and returns what it measured, so that
//! the measurements (`measure.rs`) run the same code several times.

use std::time::{Duration, SystemTime};

use crate::fleet::{Fleet, Line};
use crate::history::History;
use crate::replica::{Config, micros};
use crate::support::{Mode, PgServer, Proxy};
use crate::{RENEW_DEADLINE, RETRY_EVERY, SLACK, START, TTL, block_on, note, prepare};

/// How much earlier than the leader's own clock a replica's line can date the start of a
/// renew (the line's time is read inside the call, a moment after the leader's).
const TIMER: Duration = Duration::from_millis(5);

/// A replica `name` of `lease`, straight to `server`; its sessions are named `lease-name`.
pub fn replica(server: &PgServer, lease: &str, name: &str) -> Config {
    Config::new(server.url(&format!("{lease}-{name}")), lease, name, name)
}

/// Three replicas `r1`..`r3` of `lease`, `tune` applied to each one's config, and which of
/// them leads first, under which fence (once it has written three times).
pub async fn three_replicas(
    server: &PgServer,
    lease: &str,
    tune: impl Fn(&mut Config),
) -> (Fleet, usize, u64) {
    let mut fleet = Fleet::new();
    for name in ["r1", "r2", "r3"] {
        let mut config = replica(server, lease, name);
        tune(&mut config);
        fleet.start(&config);
    }
    let (first, fence) = first_leader(&fleet).await;
    (fleet, first, fence)
}

/// `later - earlier`, or zero.
pub fn since(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// When the last renew of `fence` by replica `i` that succeeded started, among those that
/// started before `before` (or the acquire that granted it, if none did): what the leader's
/// `renew_deadline` counts from.
pub fn last_good_renew(fleet: &Fleet, i: usize, fence: u64, before: SystemTime) -> SystemTime {
    let before = micros(before);
    let fence_arg = fence.to_string();
    let started = fleet
        .lines()
        .iter()
        .filter(|l| {
            l.replica == i
                && (l.is("acquired", &[&fence_arg])
                    || (l.is("renew", &[&fence_arg]) && l.arg(2) == "ok"))
        })
        .map(|l| u128::from(l.num(1)))
        .filter(|&started| started < before)
        .max()
        .unwrap_or_else(|| {
            panic!(
                "replica {i} never renewed fence {fence}:\n{}",
                fleet.tail(40)
            )
        });
    SystemTime::UNIX_EPOCH + Duration::from_micros(started as u64)
}

/// Waits for a first leader and three of its writes: its index and fence.
pub async fn first_leader(fleet: &Fleet) -> (usize, u64) {
    let lead = fleet
        .wait(0, START, "a leader", |l| l.kind == "leading")
        .await;
    let fence = lead.num(0);
    for _ in 0..3 {
        wrote(fleet, fleet.mark(), lead.replica, fence).await;
    }
    (lead.replica, fence)
}

/// Waits for replica `i` to have a write under `fence` accepted, since `mark`.
pub async fn wrote(fleet: &Fleet, mark: usize, i: usize, fence: u64) -> Line {
    let fence = fence.to_string();
    fleet
        .wait(mark, Duration::from_secs(5), "an accepted write", |l| {
            l.replica == i && l.is("write", &[&fence]) && l.arg(2) == "ok"
        })
        .await
}

/// The `leading` lines since `mark` (before `until`, a later mark).
pub fn leaders(fleet: &Fleet, mark: usize, until: usize) -> Vec<Line> {
    fleet.lines()[mark..until]
        .iter()
        .filter(|l| l.kind == "leading")
        .cloned()
        .collect()
}

/// Reads the history of `lease` and checks it; prints what it holds.
pub async fn checked(admin: &tokio_postgres::Client, lease: &str) -> History {
    let history = History::read(admin, lease).await;
    let summary = history.check();
    note!(
        "history of {lease}: terms {:?}, {} writes accepted, {} refused",
        summary.terms,
        summary.accepted,
        summary.rejected
    );
    history
}

pub fn kill_9_the_leader() {
    block_on(Duration::from_secs(60), async {
        let handover = kill_9(PgServer::shared(), "kill9").await;
        note!("kill -9: another replica led {handover:?} after");
    });
}

/// Three replicas; the leader is killed (SIGKILL: no release, no goodbye). Another leads
/// within `ttl + retry_every`: the killed term expires by the database's clock at most `ttl`
/// after its last renew, and a follower campaigns every `retry_every`.
pub async fn kill_9(server: &PgServer, lease: &str) -> Duration {
    let admin = prepare(server, lease).await;
    let (mut fleet, old, fence) = three_replicas(server, lease, |_| {}).await;

    let mark = fleet.mark();
    let killed = fleet.signal(old, "KILL");
    let next = fleet
        .wait(mark, TTL + RETRY_EVERY + SLACK * 2, "a new leader", |l| {
            l.kind == "leading"
        })
        .await;
    assert_ne!(next.replica, old, "{next}");
    assert!(next.num(0) > fence, "{next} after fence {fence}");
    let handover = since(killed, next.at);
    assert!(
        handover <= TTL + RETRY_EVERY + SLACK,
        "another replica led {handover:?} after the kill, past ttl + retry_every"
    );
    wrote(&fleet, mark, next.replica, next.num(0)).await;
    let status = fleet.exit(old, Duration::from_secs(5)).await;
    assert!(!status.success(), "the killed replica: {status}");

    let until = fleet.mark();
    fleet.drain_all(Duration::from_secs(10)).await;
    let after = leaders(&fleet, mark, until);
    assert_eq!(after.len(), 1, "one new leader after the kill: {after:?}");

    let history = checked(&admin, lease).await;
    // Its first write follows its term's start by one statement.
    history.assert_led_again("kill", killed, next.num(0), TTL + RETRY_EVERY + SLACK * 2);
    handover
}

pub fn sigstop_the_leader_past_its_ttl() {
    block_on(Duration::from_secs(60), async {
        let (handover, ran) = sigstop_leader(PgServer::shared(), "stop-leader").await;
        note!(
            "SIGSTOP of the leader: another led {handover:?} after; the old one canceled its \
             runs after running {ran:?} past its last good renew"
        );
    });
}

/// Three replicas; the leader is stopped (SIGSTOP) in the middle of an iteration, between
/// deciding to write and sending the write, and kept stopped until another replica leads
/// and has written. Resumed (SIGCONT), the old leader:
/// - cancels its runs at once, by its own clock (`renew_timed_out`), without a renew to ask
///   the database first: it has run for less than `renew_deadline` since the start of its
///   last good renew (the time it was stopped does not count: it could not run);
/// - sends the write it was about to send, which the database refuses: a later fence wrote;
/// - then follows.
///
/// Returns the handover (stop to the new leader) and how long the old leader ran between
/// its last good renew and its loss.
pub async fn sigstop_leader(server: &PgServer, lease: &str) -> (Duration, Duration) {
    let admin = prepare(server, lease).await;
    let (mut fleet, old, fence) = three_replicas(server, lease, |config| {
        // A stretch of 300 ms between `writing` and the write, for the stop to land in.
        config.work = Duration::from_millis(300);
    })
    .await;
    let name = fleet.replicas[old].name.clone();

    let mark = fleet.mark();
    let writing = fleet
        .wait(mark, Duration::from_secs(5), "a write announced", |l| {
            l.replica == old && l.kind == "writing"
        })
        .await;
    let stopped = fleet.signal(old, "STOP");
    assert!(
        since(writing.at, stopped) < Duration::from_millis(300),
        "the stop came {:?} after `writing`, past the work it was meant to land in",
        since(writing.at, stopped)
    );
    let next = fleet
        .wait(mark, TTL + RETRY_EVERY + SLACK * 2, "a new leader", |l| {
            l.kind == "leading" && l.replica != old
        })
        .await;
    let new_fence = next.num(0);
    assert!(new_fence > fence, "{next} after fence {fence}");
    let handover = since(stopped, next.at);
    assert!(
        handover <= TTL + RETRY_EVERY + SLACK,
        "another led {handover:?} after the stop"
    );
    wrote(&fleet, mark, next.replica, new_fence).await;

    let resumed = fleet.signal(old, "CONT");
    let lost = fleet
        .wait(mark, RENEW_DEADLINE + SLACK, "the old leader's loss", |l| {
            l.replica == old && l.is("lost", &[&fence.to_string()])
        })
        .await;
    // By its own clock, not the database's answer.
    assert_eq!(lost.arg(1), "renew_timed_out", "{lost}");
    let no_renew: Vec<Line> = fleet.since(mark, |l| {
        l.replica == old && l.kind == "renew" && u128::from(l.num(1)) >= micros(resumed)
    });
    assert!(
        no_renew.iter().all(|l| l.at > lost.at),
        "a renew was started after the resume, before the loss: {no_renew:?}"
    );
    let reacted = since(resumed, lost.at);
    assert!(
        reacted <= SLACK,
        "the loss came {reacted:?} after the resume"
    );
    let last_good = last_good_renew(&fleet, old, fence, stopped);
    let ran = since(last_good, stopped) + reacted;
    assert!(
        ran <= RENEW_DEADLINE,
        "the old leader ran {ran:?} past its last good renew before it canceled its runs"
    );
    fleet
        .wait(
            mark,
            Duration::from_secs(5),
            "the old leader following",
            |l| l.replica == old && l.kind == "follower" && l.at > resumed,
        )
        .await;
    let until = fleet.mark();
    fleet.drain_all(Duration::from_secs(10)).await;
    assert_eq!(
        leaders(&fleet, mark, until).len(),
        1,
        "one new leader:\n{}",
        fleet.tail(40)
    );

    let history = checked(&admin, lease).await;
    // Its first write comes after its 300 ms of work.
    history.assert_led_again("stop", stopped, new_fence, TTL + RETRY_EVERY + SLACK * 2);
    // The write it was about to send when it was stopped reached the server after the
    // resume, and was refused; so was any other it sent then.
    let stale = history.writes_after(&name, fence as i64, resumed);
    assert!(
        !stale.is_empty(),
        "the stopped write never reached the server:\n{}",
        fleet.tail(40)
    );
    assert!(
        stale.iter().all(|w| !w.accepted),
        "a write of the old term was accepted after the resume: {stale:?}"
    );
    note!(
        "the old leader's writes after the resume, all refused: {}",
        stale.len()
    );
    (handover, ran)
}

pub fn sigstop_the_leader_between_iterations() {
    block_on(Duration::from_secs(60), async {
        let server = PgServer::shared();
        let lease = "stop-idle";
        let admin = prepare(server, lease).await;
        let (mut fleet, old, fence) = three_replicas(server, lease, |_| {}).await;
        let name = fleet.replicas[old].name.clone();

        // Stopped while its run waits between two writes (an accepted write, then a pause
        // of 100 ms): nothing of the term is in flight.
        let mark = fleet.mark();
        wrote(&fleet, mark, old, fence).await;
        let stopped = fleet.signal(old, "STOP");
        let next = fleet
            .wait(mark, TTL + RETRY_EVERY + SLACK * 2, "a new leader", |l| {
                l.kind == "leading" && l.replica != old
            })
            .await;
        wrote(&fleet, mark, next.replica, next.num(0)).await;
        let resumed = fleet.signal(old, "CONT");
        let lost = fleet
            .wait(mark, RENEW_DEADLINE + SLACK, "the old leader's loss", |l| {
                l.replica == old && l.is("lost", &[&fence.to_string()])
            })
            .await;
        assert_eq!(lost.arg(1), "renew_timed_out", "{lost}");
        fleet
            .wait(
                mark,
                Duration::from_secs(5),
                "the old leader following",
                |l| l.replica == old && l.kind == "follower" && l.at > resumed,
            )
            .await;
        // Its own clock said the term was over when it resumed: the run must not start
        // another iteration, let alone send a write (which the fence would refuse).
        let started: Vec<Line> = fleet.since(mark, |l| {
            l.replica == old && l.kind == "writing" && l.at > stopped
        });
        assert!(
            started.is_empty(),
            "the old leader went on after the resume: {started:?}"
        );
        fleet.drain_all(Duration::from_secs(10)).await;
        let history = checked(&admin, lease).await;
        let sent = history.writes_after(&name, fence as i64, resumed);
        assert!(
            sent.is_empty(),
            "the old leader wrote after the resume: {sent:?}"
        );
        note!(
            "SIGSTOP between iterations: another led {:?} after; the old one canceled its \
             runs {:?} after the resume, and wrote nothing more",
            since(stopped, next.at),
            since(resumed, lost.at)
        );
    });
}

pub fn sigstop_the_database_past_the_renew_deadline() {
    block_on(Duration::from_secs(90), async {
        let server = PgServer::start(); // frozen by this test: its own
        let (lost, back) = sigstop_database(&server, "stop-db").await;
        note!(
            "SIGSTOP of the database: the leader let go {lost:?} after its last good renew; \
             a leader again {back:?} after the resume"
        );
    });
}

/// Three replicas; the database is frozen (SIGSTOP to every process of the server) past
/// `renew_deadline`. The leader cancels its runs once no renew succeeded for
/// `renew_deadline` (the renews hang, bounded by the call timeout), and lets go; nobody
/// leads while the server is frozen. Resumed: exactly one replica leads again.
///
/// Returns how long after its last good renew the leader let go, and how long after the
/// resume a replica led again.
pub async fn sigstop_database(server: &PgServer, lease: &str) -> (Duration, Duration) {
    let admin = prepare(server, lease).await;
    let (mut fleet, old, fence) = three_replicas(server, lease, |_| {}).await;

    let mark = fleet.mark();
    let (paused, lost, let_go) = {
        let _frozen = server.pause();
        let paused = SystemTime::now();
        let lost = fleet
            .wait(mark, RENEW_DEADLINE + SLACK * 2, "the leader's loss", |l| {
                l.replica == old && l.is("lost", &[&fence.to_string()])
            })
            .await;
        assert_ne!(
            lost.arg(1),
            "not_held",
            "the frozen server answered: {lost}"
        );
        let last_good = last_good_renew(&fleet, old, fence, paused);
        let let_go = since(last_good, lost.at);
        assert!(
            let_go + TIMER >= RENEW_DEADLINE && let_go <= RENEW_DEADLINE + SLACK,
            "the leader let go {let_go:?} after its last good renew"
        );
        // The run is gone before the release (whichever way it ends, the server being
        // frozen): only then does the replica campaign again.
        fleet
            .wait(mark, TTL + SLACK * 2, "the leader's release", |l| {
                l.replica == old
                    && (l.is("released", &[&fence.to_string()])
                        || l.is("release-error", &[&fence.to_string()]))
            })
            .await;
        let writing: Vec<Line> = fleet.since(mark, |l| {
            l.replica == old && l.kind == "writing" && l.at > lost.at
        });
        assert!(
            writing.is_empty(),
            "the leader wrote on after its loss: {writing:?}"
        );
        assert!(
            leaders(&fleet, mark, fleet.mark()).is_empty(),
            "a leader while frozen"
        );
        (paused, lost, let_go)
    };
    let resumed = SystemTime::now();
    let next = fleet
        .wait(
            mark,
            TTL + RETRY_EVERY + Duration::from_secs(2) + SLACK * 2,
            "a leader again",
            |l| l.kind == "leading",
        )
        .await;
    let back = since(resumed, next.at);
    // The term renewed last before the freeze expires at most `ttl` after it by the
    // database's clock, which went on; an acquire or renew that a replica sent as the server
    // froze and gave up on still runs when it resumes, and can hold the lease for one `ttl`
    // more; reconnecting takes up to 2 s of backoff.
    assert!(
        back <= TTL + RETRY_EVERY + Duration::from_secs(2) + SLACK,
        "a leader again {back:?} after the resume"
    );
    let new_leader = next.replica;
    for _ in 0..5 {
        let mark = fleet.mark();
        wrote(&fleet, mark, new_leader, next.num(0)).await;
    }
    let until = fleet.mark();
    fleet.drain_all(Duration::from_secs(10)).await;
    let again = leaders(&fleet, mark, until);
    assert_eq!(again.len(), 1, "exactly one leads again: {again:?}");
    note!(
        "database frozen {:?} (leader lost at +{:?}); leader {} at fence {}",
        since(paused, resumed),
        since(paused, lost.at),
        fleet.replicas[new_leader].name,
        next.num(0)
    );
    let history = checked(&admin, lease).await;
    assert!(
        history.leader_after(resumed).is_some(),
        "a leader wrote after the resume"
    );
    (let_go, back)
}

pub fn cut_one_replicas_connection() {
    block_on(Duration::from_secs(60), async {
        let server = PgServer::shared();
        let lease = "cut";
        let admin = prepare(server, lease).await;
        let mut fleet = Fleet::new();
        let mut proxies = Vec::new();
        for name in ["r1", "r2", "r3"] {
            let proxy = Proxy::start(server.port()).await;
            let mut config = replica(server, lease, name);
            config.url = server.url_via(proxy.port(), &format!("{lease}-{name}"));
            fleet.start(&config);
            proxies.push(proxy);
        }
        let (old, fence) = first_leader(&fleet).await;
        let app = format!("{lease}-{}", fleet.replicas[old].name);

        // An administrator ends the leader's sessions: it reconnects and renews the same
        // term, which lives in the database.
        let mark = fleet.mark();
        let terminated = SystemTime::now();
        assert!(server.terminate(&app).await >= 1, "the leader's sessions");
        fleet
            .wait(mark, RENEW_DEADLINE, "a renew on a new session", |l| {
                l.replica == old
                    && l.is("renew", &[&fence.to_string()])
                    && l.arg(2) == "ok"
                    && u128::from(l.num(1)) > micros(terminated)
            })
            .await;
        let lost: Vec<Line> = fleet.since(mark, |l| l.kind == "lost");
        assert!(
            lost.is_empty(),
            "a terminated session lost the lease: {lost:?}"
        );

        // The network swallows everything between the leader and the server: its renews
        // hang (each given up at the call timeout), and it lets go when `renew_deadline`
        // has passed since its last good renew, without an answer from the database.
        let mark = fleet.mark();
        let cut = SystemTime::now();
        proxies[old].set(Mode::Blackhole);
        let lost = fleet
            .wait(
                mark,
                RENEW_DEADLINE + SLACK * 2,
                "the cut leader's loss",
                |l| l.replica == old && l.is("lost", &[&fence.to_string()]),
            )
            .await;
        assert_ne!(lost.arg(1), "not_held", "{lost}");
        let let_go = since(last_good_renew(&fleet, old, fence, cut), lost.at);
        assert!(
            let_go + TIMER >= RENEW_DEADLINE && let_go <= RENEW_DEADLINE + SLACK,
            "the cut leader let go {let_go:?} after its last good renew"
        );
        let next = fleet
            .wait(mark, TTL + RETRY_EVERY + SLACK * 2, "a new leader", |l| {
                l.kind == "leading"
            })
            .await;
        assert_ne!(next.replica, old);
        let handover = since(cut, next.at);
        assert!(
            handover <= TTL + RETRY_EVERY + SLACK,
            "a new leader {handover:?} after the cut"
        );
        wrote(&fleet, mark, next.replica, next.num(0)).await;

        // The network heals: the old leader reconnects, and follows.
        let healed = SystemTime::now();
        proxies[old].set(Mode::Forward);
        let follows = fleet
            .wait(
                mark,
                Duration::from_secs(5),
                "the old leader following",
                |l| l.replica == old && l.kind == "follower" && l.at > healed,
            )
            .await;
        let until = fleet.mark();
        fleet.drain_all(Duration::from_secs(10)).await;
        assert_eq!(leaders(&fleet, mark, until).len(), 1, "one new leader");
        note!(
            "cut: the leader let go {let_go:?} after its last good renew; another led \
             {handover:?} after the cut; the old one followed {:?} after the network healed",
            since(healed, follows.at)
        );
        let history = checked(&admin, lease).await;
        history.assert_led_again("cut", cut, next.num(0), TTL + RETRY_EVERY + SLACK * 2);
    });
}
