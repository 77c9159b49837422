//! The figures of BENCHMARKS.md ("Fleet-wide singletons on PostgreSQL"), measured against a
//! server of its own:
//!
//! ```sh
//! cargo test -p async-tasks-postgres --test singleton -- --ignored
//! ```
//!
//! - handovers: the fault scenarios of this suite, run [`ROUNDS`] times each, with their
//!   assertions; the median and the spread of what each measured;
//! - the statements each replica sends at the default timings (ttl 15 s, renew_deadline
//!   10 s, retry_every 2 s), counted in the server's log (`log_statement = all`) over a
//!   window, by session.

use std::time::Duration;

use crate::faults::{kill_9, replica, sigstop_database, sigstop_leader};
use crate::fleet::Fleet;
use crate::handover::drain_handover;
use crate::support::PgServer;
use crate::{START, block_on, note, prepare};

/// Runs of each scenario.
const ROUNDS: usize = 5;
/// The window over which statements are counted.
const WINDOW: Duration = Duration::from_secs(30);

pub fn handovers_and_statements_per_second() {
    block_on(Duration::from_secs(900), async {
        let server = PgServer::start();
        let mut figures: Vec<(&str, Vec<Duration>)> = Vec::new();
        let mut record = |name, value| match figures.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => figures.push((name, vec![value])),
        };
        for round in 0..ROUNDS {
            let (from_release, from_signal) =
                drain_handover(&server, &format!("m-drain-{round}")).await;
            record("drain: SIGTERM to a new leader", from_signal);
            record("drain: release to a new leader", from_release);
            let killed = kill_9(&server, &format!("m-kill-{round}")).await;
            record("kill -9 to a new leader", killed);
            let (stopped, ran) = sigstop_leader(&server, &format!("m-stop-{round}")).await;
            record("SIGSTOP of the leader to a new leader", stopped);
            record(
                "SIGSTOP: old leader's running time past its last renew",
                ran,
            );
            let (let_go, back) = sigstop_database(&server, &format!("m-db-{round}")).await;
            record("database frozen: last good renew to letting go", let_go);
            record("database resumed to a leader again", back);
        }
        for (name, mut values) in figures {
            values.sort();
            note!(
                "{name}: median {:.2?} (min {:.2?}, max {:.2?}, {} runs)",
                values[values.len() / 2],
                values[0],
                values[values.len() - 1],
                values.len()
            );
        }
        statements_per_second(&server).await;
    });
}

/// Three replicas at the default timings, one of them leading: how many statements each
/// sends per second, from the server's log.
async fn statements_per_second(server: &PgServer) {
    let lease = "m-statements";
    let admin = prepare(server, lease).await;
    for sql in [
        "ALTER SYSTEM SET log_statement = 'all'",
        "ALTER SYSTEM SET log_line_prefix = '[%a] '",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    let mut fleet = Fleet::new();
    for name in ["r1", "r2", "r3"] {
        let mut config = replica(server, lease, name);
        config.ttl = Duration::from_secs(15);
        config.renew_deadline = Duration::from_secs(10);
        config.retry_every = Duration::from_secs(2);
        config.call_timeout = Duration::from_secs(5);
        config.every = Duration::ZERO; // no writes: the lease's statements only
        fleet.start(&config);
    }
    let lead = fleet
        .wait(0, START, "a leader", |l| l.kind == "leading")
        .await;
    for i in 0..3 {
        fleet
            .wait(0, START, "every replica ready", |l| {
                l.replica == i && l.kind == "ready"
            })
            .await;
    }
    let count = |log: &str, i: usize| {
        let prefix = format!("[{lease}-r{}] LOG:  ", i + 1);
        log.lines()
            .filter(|line| {
                line.strip_prefix(&prefix).is_some_and(|rest| {
                    rest.starts_with("execute") || rest.starts_with("statement")
                })
            })
            .count()
    };
    let before: Vec<usize> = (0..3).map(|i| count(&server.log(), i)).collect();
    tokio::time::sleep(WINDOW).await; // the window measured, not a synchronisation
    let log = server.log();
    for (i, before) in before.into_iter().enumerate() {
        let statements = count(&log, i) - before;
        note!(
            "{} ({}): {statements} statements in {WINDOW:?}, {:.2} per second",
            fleet.replicas[i].name,
            if i == lead.replica {
                "leader"
            } else {
                "follower"
            },
            statements as f64 / WINDOW.as_secs_f64()
        );
    }
    fleet.drain_all(Duration::from_secs(20)).await;
}
