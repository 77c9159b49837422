//! Faults of the connection, against a real server: a session ended by an administrator, a
//! connection cut or black-holed by the network (a proxy in the test), a statement stuck
//! behind a lock. Each call must end within the call timeout; the store must heal once the
//! fault is gone; the leases, kept in the database, survive it.
//!
//! One server for the binary; each test has a table and a proxy of its own. A frozen server
//! is in `pause.rs`, with a server of its own.

mod support;

use std::time::{Duration, Instant};

use async_tasks::lease::LeaseStore;
use async_tasks_postgres::PgLeases;
use support::{Mode, PgServer, Proxy, store, within};

const TTL: Duration = Duration::from_secs(60);
const LIMIT: Duration = Duration::from_secs(60);
/// Short, so that the tests are; the default is 5 s.
const CALL_TIMEOUT: Duration = Duration::from_millis(700);
/// What a call may take past its timeout: the scheduling of two busy cores.
const SLACK: Duration = Duration::from_millis(500);

/// A store over `table` through `proxy`, with the short call timeout.
async fn store_via(server: &PgServer, proxy: &Proxy, table: &str) -> PgLeases {
    let store = PgLeases::builder()
        .table(table)
        .call_timeout(CALL_TIMEOUT)
        .connect(&server.url_via(proxy.port(), table))
        .await
        .expect("connect through the proxy");
    store.migrate().await.expect("migrate");
    store
}

/// Calls `renew` until it succeeds, and returns what it said; each failed call must end
/// within the call timeout.
async fn renew_until_ok(store: &PgLeases, term: &async_tasks::lease::Term) -> bool {
    loop {
        let started = Instant::now();
        match store.renew(term, TTL).await {
            Ok(held) => return held,
            Err(err) => {
                let took = started.elapsed();
                assert!(took <= CALL_TIMEOUT + SLACK, "a call took {took:?}: {err}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_session_is_replaced_and_the_lease_survives() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = store(server, "terminated").await;
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();

        for _ in 0..3 {
            let before = server.backends("terminated").await;
            assert_eq!(before.len(), 1, "the store's one session");
            assert_eq!(server.terminate("terminated").await, 1);

            // The call right after may meet the dead session (and fail, saying so) or find
            // it closed and reconnect first; the ones after succeed, on a new session.
            if let Err(err) = store.renew(&term, TTL).await {
                let err = err.to_string();
                assert!(
                    err.starts_with("postgres lease store: renew of outbox#1 (web-1)")
                        && (err.contains("connection closed") || err.contains("terminating")),
                    "{err}"
                );
            }
            assert!(store.renew(&term, TTL).await.unwrap(), "the term survived");
            let after = server.backends("terminated").await;
            assert_eq!(after.len(), 1);
            assert_ne!(after, before, "a new session");
        }
        assert_eq!(
            store.try_acquire("outbox", "web-2", TTL).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_reopened_with_backoff_once_the_server_is_back() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let proxy = Proxy::start(server.port()).await;
        let store = store_via(server, &proxy, "cut").await;
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(proxy.accepted(), 1);

        // The server goes away for 3 s: every call fails, each within the call timeout, and
        // the store does not hammer it.
        proxy.set(Mode::Refuse);
        let away = Instant::now();
        let mut failures = 0;
        while away.elapsed() < Duration::from_secs(3) {
            let started = Instant::now();
            let err = store
                .renew(&term, TTL)
                .await
                .expect_err("the server is away");
            let took = started.elapsed();
            assert!(took <= CALL_TIMEOUT + SLACK, "a call took {took:?}: {err}");
            if failures > 0 {
                // Waiting for a connection: the timeout says what reconnecting met.
                let err = err.to_string();
                assert!(
                    err.contains("timed out after 700ms (reconnecting: "),
                    "{err}"
                );
            }
            failures += 1;
        }
        // 100 ms doubling to 1 s, plus jitter: about 6 attempts in 3 s, where calls back to
        // back without a backoff would make hundreds.
        let attempts = proxy.accepted() - 1;
        assert!(
            (2..=15).contains(&attempts),
            "{attempts} attempts to connect"
        );
        assert!(failures >= 3, "{failures} calls");

        proxy.set(Mode::Forward);
        let back = Instant::now();
        assert!(renew_until_ok(&store, &term).await, "the term survived");
        // Within the longest spacing of attempts (1 s, 2 s with jitter) and a call.
        let healed = back.elapsed();
        assert!(healed < Duration::from_secs(4), "healed after {healed:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_call_times_out_and_its_connection_is_closed() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let proxy = Proxy::start(server.port()).await;
        let store = store_via(server, &proxy, "blackholed").await;
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();

        // The network swallows everything: the call cannot know, and must not hang.
        proxy.set(Mode::Blackhole);
        let started = Instant::now();
        let err = store.renew(&term, TTL).await.expect_err("black-holed");
        let took = started.elapsed();
        assert!(
            took >= CALL_TIMEOUT && took <= CALL_TIMEOUT + SLACK,
            "{took:?}"
        );
        assert_eq!(
            err.to_string(),
            "postgres lease store: renew of outbox#1 (web-1) timed out after 700ms"
        );
        // It gave up on that connection: its socket is closed at once (the proxy sees the
        // client hang up), not left to wait for an answer that never comes.
        while proxy.hung_up() == 0 {
            tokio::task::yield_now().await; // bounded by `within`
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // A new connection, black-holed too, times out while connecting.
        let err = store.release(&term).await.expect_err("still black-holed");
        assert!(err.to_string().contains("timed out after 700ms"), "{err}");

        proxy.set(Mode::Forward);
        assert!(renew_until_ok(&store, &term).await, "the term survived");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_gives_up_on_a_statement_the_store_gave_up_on() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = PgLeases::builder()
            .table("stuck")
            .call_timeout(CALL_TIMEOUT)
            .connect(&server.url("stuck"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();

        // Another session holds the lease row: the renew waits for it.
        let mut other = server.client("stuck-other").await;
        let tx = other.transaction().await.unwrap();
        tx.execute("SELECT 1 FROM stuck WHERE name = 'outbox' FOR UPDATE", &[])
            .await
            .unwrap();
        let started = Instant::now();
        let err = store
            .renew(&term, TTL)
            .await
            .expect_err("the row is locked");
        let took = started.elapsed();
        assert!(took <= CALL_TIMEOUT + SLACK, "a call took {took:?}: {err}");
        let err = err.to_string();
        assert!(
            err.contains("timed out after 700ms") || err.contains("statement timeout"),
            "{err}"
        );

        // The store dropped its connection; without a `statement_timeout` the server would
        // still be waiting for the lock (it does not notice a closed socket while it waits).
        // With it, the waiting statement is canceled and its session ends, while the lock is
        // still held.
        let admin = server.client("stuck-admin").await;
        loop {
            let waiting: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE application_name = 'stuck' AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting == 0 {
                break;
            }
            assert!(
                started.elapsed() < CALL_TIMEOUT * 3,
                "the server is still waiting"
            );
            tokio::time::sleep(Duration::from_millis(20)).await; // a poll of the server
        }
        tx.rollback().await.unwrap();
        assert!(renew_until_ok(&store, &term).await, "the term survived");
    })
    .await;
}
