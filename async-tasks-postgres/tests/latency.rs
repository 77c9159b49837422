//! How long each call takes on a local server, printed rather than asserted (a machine's
//! speed is no contract):
//!
//! ```sh
//! cargo test -p async-tasks-postgres --release --test latency -- --ignored --nocapture
//! ```
//!
//! Each call is one statement, in one round trip (parameters typed, no separate prepare),
//! and one transaction.

mod support;

use std::time::{Duration, Instant};

use async_tasks::lease::LeaseStore;
use support::{PgServer, store, within};

const CALLS: usize = 1_000;
const TTL: Duration = Duration::from_secs(15);

#[tokio::test]
#[ignore = "a measurement: run it by hand, see the module's docs"]
async fn latency_of_each_call_on_a_local_server() {
    let server = PgServer::start();
    within(Duration::from_secs(120), async {
        let store = store(&server, "latency").await;
        let (mut acquire, mut renew, mut release) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..CALLS {
            let started = Instant::now();
            let term = store
                .try_acquire("outbox", "web-1", TTL)
                .await
                .unwrap()
                .unwrap();
            acquire.push(started.elapsed());

            let started = Instant::now();
            assert!(store.renew(&term, TTL).await.unwrap());
            renew.push(started.elapsed());

            let started = Instant::now();
            store.release(&term).await.unwrap();
            release.push(started.elapsed());
        }
        // A follower's campaign: refused, another replica holds the lease.
        store
            .try_acquire("held", "web-0", TTL)
            .await
            .unwrap()
            .unwrap();
        let started = Instant::now();
        for _ in 0..CALLS {
            assert_eq!(store.try_acquire("held", "web-1", TTL).await.unwrap(), None);
        }
        let refused = started.elapsed() / CALLS as u32;
        for (call, times) in [
            ("try_acquire (granted)", acquire),
            ("renew", renew),
            ("release", release),
        ] {
            println!("{call:>22}: {}", summary(times));
        }
        println!("{:>22}: mean {refused:?}", "try_acquire (refused)");
    })
    .await;
}

/// How many statements each call sends, counted in the server's log: what a singleton costs
/// the database is this times its calls (a leader's renew, or a follower's acquire, every
/// `retry_every`).
#[tokio::test]
#[ignore = "a measurement: run it by hand, see the module's docs"]
async fn statements_per_call_counted_by_the_server() {
    let server = PgServer::start();
    within(Duration::from_secs(60), async {
        let admin = server.client("latency-admin").await;
        for sql in [
            "ALTER SYSTEM SET log_statement = 'all'",
            "ALTER SYSTEM SET log_line_prefix = '[%a] '",
            "SELECT pg_reload_conf()",
        ] {
            admin.batch_execute(sql).await.unwrap();
        }
        let store = store(&server, "counted").await; // its session is named "counted"
        let before = statements(&server.log());
        const ROUNDS: usize = 100;
        for _ in 0..ROUNDS {
            let term = store
                .try_acquire("outbox", "web-1", TTL)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                store.try_acquire("outbox", "web-2", TTL).await.unwrap(),
                None
            );
            assert!(store.renew(&term, TTL).await.unwrap());
            store.release(&term).await.unwrap();
        }
        // The server writes its log as the statements run: wait until the count is at least
        // one per call and stays put for a moment.
        let mut logged = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await; // a poll of the log
            let now = statements(&server.log()) - before;
            if now >= ROUNDS * 4 && now == logged {
                break;
            }
            logged = now;
        }
        println!(
            "{:.2} statements per call ({logged} for {} calls)",
            logged as f64 / (ROUNDS * 4) as f64,
            ROUNDS * 4
        );
    })
    .await;
}

/// The median, 90th and 99th percentiles of `times`.
fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    format!(
        "median {:?}, p90 {:?}, p99 {:?}",
        at(0.5),
        at(0.9),
        at(0.99)
    )
}

/// The statements of the session "counted" in the server's log (each is one `LOG:` line,
/// followed by a `DETAIL:` line with its parameters).
fn statements(log: &str) -> usize {
    log.lines()
        .filter(|line| {
            line.starts_with("[counted] LOG:  execute")
                || line.starts_with("[counted] LOG:  statement")
        })
        .count()
}
