//! A frozen server (SIGSTOP to every one of its processes), against a real server of its
//! own: it still accepts TCP connections (the kernel does) and answers nothing. Every call
//! must end within the call timeout rather than hang, and the store must serve again once the
//! server resumes; the database's clock, which went on meanwhile, judges the leases.
//!
//! Its own binary and its own server: pausing the server of other tests would fail them.

mod support;

use std::time::{Duration, Instant};

use async_tasks::lease::LeaseStore;
use async_tasks_postgres::PgLeases;
use support::{PgServer, within};

const CALL_TIMEOUT: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_fails_calls_within_the_call_timeout_then_serves_again() {
    let server = PgServer::start(); // stopped when dropped, even if the test fails
    within(Duration::from_secs(60), async {
        let store = PgLeases::builder()
            .call_timeout(CALL_TIMEOUT)
            .connect(&server.url("paused"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let long = store
            .try_acquire("long", "web-1", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        // A term that ends while the server is frozen: the server's clock goes on.
        let short = store
            .try_acquire("short", "web-1", Duration::from_secs(2))
            .await
            .unwrap()
            .unwrap();

        {
            let _paused = server.pause();
            let paused_at = Instant::now();
            // On the open connection; then on new ones, whose startup the server never
            // answers; each call ends on time, saying why.
            for call in 0..3 {
                let started = Instant::now();
                let err = match call {
                    0 => store.renew(&long, Duration::from_secs(60)).await.map(drop),
                    1 => store
                        .try_acquire("other", "web-1", CALL_TIMEOUT)
                        .await
                        .map(drop),
                    _ => store.release(&short).await,
                }
                .expect_err("the server is frozen")
                .to_string();
                let took = started.elapsed();
                assert!(
                    took >= CALL_TIMEOUT && took <= CALL_TIMEOUT + SLACK,
                    "{took:?}"
                );
                assert!(err.contains("timed out after 1s"), "{err}");
            }
            // Past the short term's ttl, by this process's clock and so by the server's.
            let frozen_for = Duration::from_millis(2_500);
            tokio::time::sleep(frozen_for.saturating_sub(paused_at.elapsed())).await;
        }

        // Back: the store reconnects; the long term still holds, the short one expired
        // while the server was frozen, and another replica can take it.
        let resumed = Instant::now();
        let held = loop {
            match store.renew(&long, Duration::from_secs(60)).await {
                Ok(held) => break held,
                Err(err) => assert!(resumed.elapsed() < Duration::from_secs(10), "{err}"),
            }
        };
        assert!(held, "the long term survived the pause");
        assert!(!store.renew(&short, Duration::from_secs(2)).await.unwrap());
        let next = store
            .try_acquire("short", "web-2", Duration::from_secs(2))
            .await
            .unwrap()
            .expect("the short lease expired during the pause");
        assert_eq!(next.fence(), short.fence() + 1);
    })
    .await;
}
