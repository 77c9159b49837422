//! Leadership moving without a fault: replicas racing from cold, a drain, and two replicas
//! that share a holder id.

use std::time::{Duration, SystemTime};

use crate::faults::{checked, first_leader, leaders, replica, since, three_replicas, wrote};
use crate::fleet::{Fleet, Line};
use crate::support::PgServer;
use crate::{RETRY_EVERY, SLACK, START, TTL, block_on, note, prepare};

pub fn five_replicas_race_from_cold() {
    block_on(Duration::from_secs(60), async {
        let server = PgServer::shared();
        let lease = "race";
        let admin = prepare(server, lease).await;
        let mut fleet = Fleet::new();
        // All at once, on a lease never held: every first campaign races the others'.
        for name in ["r1", "r2", "r3", "r4", "r5"] {
            fleet.start(&replica(server, lease, name));
        }
        let (leader, fence) = first_leader(&fleet).await;
        assert_eq!(fence, 1, "the lease's first term");
        for i in (0..5).filter(|&i| i != leader) {
            fleet
                .wait(0, START, "each other replica following", |l| {
                    l.replica == i && l.kind == "follower"
                })
                .await;
        }
        for _ in 0..5 {
            wrote(&fleet, fleet.mark(), leader, fence).await;
        }
        let until = fleet.mark();
        // Told through their stdin this time (the others' tests send SIGTERM).
        for i in 0..5 {
            fleet.tell(i, "drain").await;
        }
        for i in 0..5 {
            let status = fleet.exit(i, Duration::from_secs(10)).await;
            assert!(status.success(), "replica {i}: {status}");
        }
        let leading = leaders(&fleet, 0, until);
        assert_eq!(leading.len(), 1, "one leader of five: {leading:?}");
        let history = checked(&admin, lease).await;
        assert_eq!(
            history.check().terms,
            [(1, fleet.replicas[leader].name.clone())]
        );
    });
}

pub fn a_drain_hands_over_within_retry_every() {
    block_on(Duration::from_secs(60), async {
        let (from_release, from_signal) = drain_handover(PgServer::shared(), "drain").await;
        note!(
            "drain: another replica led {from_release:?} after the release, {from_signal:?} \
             after the SIGTERM"
        );
    });
}

/// Three replicas; the leader gets SIGTERM, drains (its iteration in flight finishes) and
/// releases the lease on its way out: a follower leads at its next campaign, within
/// `retry_every` of the release, not `ttl`.
///
/// Returns the handover from the release and from the signal.
pub async fn drain_handover(server: &PgServer, lease: &str) -> (Duration, Duration) {
    let admin = prepare(server, lease).await;
    let (mut fleet, old, fence) = three_replicas(server, lease, |_| {}).await;

    let mark = fleet.mark();
    let signalled = fleet.signal(old, "TERM");
    let released = fleet
        .wait(mark, Duration::from_secs(5), "the release", |l| {
            l.replica == old && l.is("released", &[&fence.to_string()])
        })
        .await;
    let next = fleet
        .wait(mark, RETRY_EVERY + SLACK * 2, "a new leader", |l| {
            l.kind == "leading"
        })
        .await;
    assert_ne!(next.replica, old);
    let (from_release, from_signal) = (since(released.at, next.at), since(signalled, next.at));
    assert!(
        from_release <= RETRY_EVERY + SLACK,
        "a new leader {from_release:?} after the release"
    );
    // The drain lets the iteration in flight finish first: a write, and its pause.
    assert!(
        from_signal <= RETRY_EVERY + SLACK * 2 && from_signal < TTL,
        "a new leader {from_signal:?} after the SIGTERM"
    );
    fleet
        .wait(mark, Duration::from_secs(5), "the drained replica", |l| {
            l.replica == old && l.kind == "drained"
        })
        .await;
    let status = fleet.exit(old, Duration::from_secs(5)).await;
    assert!(status.success(), "the drained replica: {status}");
    wrote(&fleet, mark, next.replica, next.num(0)).await;
    let until = fleet.mark();
    fleet.drain_all(Duration::from_secs(10)).await;
    assert_eq!(leaders(&fleet, mark, until).len(), 1);
    let history = checked(&admin, lease).await;
    history.assert_led_again("SIGTERM", signalled, next.num(0), RETRY_EVERY + SLACK * 2);
    (from_release, from_signal)
}

pub fn two_replicas_with_one_holder_id() {
    block_on(Duration::from_secs(60), async {
        let server = PgServer::shared();
        let lease = "twins";
        let admin = prepare(server, lease).await;
        let mut fleet = Fleet::new();
        for name in ["twin-a", "twin-b"] {
            let mut config = replica(server, lease, name);
            config.holder = "twin".to_owned(); // a misconfiguration: one id for two
            fleet.start(&config);
        }
        let (first, fence) = first_leader(&fleet).await;
        let other = 1 - first;
        fleet
            .wait(0, START, "the other following", |l| {
                l.replica == other && l.kind == "follower"
            })
            .await;

        // The term ends early in the database (an operator, a clock stepping forward): the
        // next term goes to one of the two, and the holder id alone renews neither the old
        // term nor the new one for the other: a renew names its fence.
        let mark = fleet.mark();
        let expired = SystemTime::now();
        admin
            .execute(
                "UPDATE async_tasks_leases SET expires_at = now() WHERE name = $1",
                &[&lease],
            )
            .await
            .unwrap();
        let lost = fleet
            .wait(
                mark,
                RETRY_EVERY + SLACK * 2,
                "the first term's loss",
                |l| l.replica == first && l.is("lost", &[&fence.to_string()]),
            )
            .await;
        assert_eq!(lost.arg(1), "not_held", "the database said so: {lost}");
        let next = fleet
            .wait(mark, RETRY_EVERY * 2 + SLACK * 2, "the next term", |l| {
                l.kind == "leading"
            })
            .await;
        assert_eq!(next.num(0), fence + 1, "{next}");
        wrote(&fleet, mark, next.replica, next.num(0)).await;
        for _ in 0..3 {
            wrote(&fleet, fleet.mark(), next.replica, next.num(0)).await;
        }
        let until = fleet.mark();
        fleet.drain_all(Duration::from_secs(10)).await;

        let leading = leaders(&fleet, mark, until);
        assert_eq!(leading.len(), 1, "one next term: {leading:?}");
        // Never both: each term's runs started in one process only, and the other never
        // renewed a term it did not start.
        let all = fleet.lines();
        for i in [0, 1] {
            let mine = |l: &&Line| l.replica == i && l.kind == "leading";
            let theirs = |l: &&Line| l.replica != i && l.kind == "leading";
            for led in all.iter().filter(mine) {
                assert!(
                    !all.iter().filter(theirs).any(|l| l.arg(0) == led.arg(0)),
                    "{led}"
                );
                let renewed_theirs = all
                    .iter()
                    .any(|l| l.replica != i && l.is("renew", &[led.arg(0)]) && l.arg(2) == "ok");
                assert!(!renewed_theirs, "the other replica renewed {led}");
            }
        }
        note!(
            "one holder id: fence {fence} lost {:?} after its early expiry, fence {} led by \
             {}",
            since(expired, lost.at),
            next.num(0),
            fleet.replicas[next.replica].name
        );
        checked(&admin, lease).await;
    });
}
