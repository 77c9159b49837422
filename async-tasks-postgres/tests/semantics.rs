//! What each operation does to a lease, against a real server, one call at a time: the
//! trait's contract (`async_tasks::lease::LeaseStore`), as every store of the workspace is
//! held to it (`tests/tests/support/lease_contract.rs`), then what the rows and the
//! database's clock show. Races are in `concurrency.rs`.
//!
//! One server for the binary; each test has a table of its own.

#[path = "../../tests/tests/support/lease_contract.rs"]
mod lease_contract;
mod support;

use std::time::Duration;

use async_tasks::lease::{LeaseStore, Term};
use support::{PgServer, db_now, row, store, within};

/// Long enough never to pass during a test.
const TTL: Duration = Duration::from_secs(60);
const LIMIT: Duration = Duration::from_secs(30);

/// One test per property of the contract, each on a table of its own (named after it).
macro_rules! contract_tests {
    ($($property:ident),+ $(,)?) => {
        mod contract {
            use super::*;
            $(
                #[tokio::test]
                async fn $property() {
                    within(LIMIT, async {
                        let store = store(PgServer::shared(), stringify!($property)).await;
                        lease_contract::$property(&store).await;
                    })
                    .await;
                }
            )+
        }
    };
}

lease_contract::each_property!(contract_tests);

#[tokio::test]
async fn renew_extends_only_the_term_that_holds_the_lease() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = store(server, "renew").await;
        let admin = server.client("renew-admin").await;

        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        let (_, _, first) = row(&admin, "renew", "outbox").await.unwrap();
        assert!(store.renew(&term, TTL * 2).await.unwrap());
        let (_, _, renewed) = row(&admin, "renew", "outbox").await.unwrap();
        let extended = renewed
            .duration_since(first)
            .expect("the expiry moved forward");
        assert!(
            extended >= TTL - Duration::from_secs(5),
            "extended by {extended:?}"
        );

        // Not the same term: another holder, another fence, another lease.
        for forged in [
            Term::new("outbox", "web-2", term.fence()),
            Term::new("outbox", "web-1", term.fence() + 1),
            Term::new("outbox", "web-1", term.fence() - 1),
            Term::new("never-taken", "web-1", 1),
            Term::new("outbox", "web-1", u64::MAX),
        ] {
            assert!(!store.renew(&forged, TTL).await.unwrap(), "{forged}");
        }
        assert_eq!(row(&admin, "renew", "outbox").await.unwrap().2, renewed);

        store.release(&term).await.unwrap();
        assert!(!store.renew(&term, TTL).await.unwrap(), "released");
    })
    .await;
}

#[tokio::test]
async fn fences_strictly_increase_across_releases_expiries_and_connections() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = store(server, "fences").await;
        let admin = server.client("fences-admin").await;
        let mut fences = Vec::new();

        for holder in ["web-1", "web-2", "web-1"] {
            let term = store
                .try_acquire("outbox", holder, TTL)
                .await
                .unwrap()
                .unwrap();
            fences.push(term.fence());
            store.release(&term).await.unwrap();
        }
        // A term that expires by itself (1 ms): the next one is taken over from it.
        let expiring = store
            .try_acquire("outbox", "web-3", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        fences.push(expiring.fence());
        let next = loop {
            if let Some(term) = store.try_acquire("outbox", "web-1", TTL).await.unwrap() {
                break term;
            }
        };
        fences.push(next.fence());
        store.release(&next).await.unwrap();

        // The fence lives in the row: another connection (a restarted replica) goes on.
        let restarted = support::store(server, "fences").await;
        let later = restarted
            .try_acquire("outbox", "web-2", TTL)
            .await
            .unwrap()
            .unwrap();
        fences.push(later.fence());

        assert_eq!(fences, [1, 2, 3, 4, 5, 6]);
        assert_eq!(row(&admin, "fences", "outbox").await.unwrap().1, 6);
    })
    .await;
}

#[tokio::test]
async fn expiry_is_judged_by_the_database_clock() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = store(server, "expiry").await;
        let admin = server.client("expiry-admin").await;
        let ttl = Duration::from_millis(300);

        let before = db_now(&admin).await;
        let term = store
            .try_acquire("outbox", "web-1", ttl)
            .await
            .unwrap()
            .unwrap();
        let (_, _, expires_at) = row(&admin, "expiry", "outbox").await.unwrap();
        let after = db_now(&admin).await;
        // Set by the database: its `now()` during the call, plus the ttl.
        assert!(expires_at >= before + ttl && expires_at <= after + ttl);

        // Ask until the lease is free. Each refusal must have been asked before the expiry
        // by the database's clock (`now()` read just before the attempt, which is no later
        // than the attempt's own); the attempt that wins must have run at or after it.
        let mut refused = 0;
        let taken = loop {
            let asked = db_now(&admin).await;
            match store.try_acquire("outbox", "web-2", TTL).await.unwrap() {
                Some(taken) => break taken,
                None => {
                    assert!(
                        asked < expires_at,
                        "refused at {asked:?}, expired {expires_at:?}"
                    );
                    refused += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // a poll of the database
        };
        assert!(refused > 0, "the lease was never refused while held");
        assert_eq!(taken.fence(), term.fence() + 1);
        // The winning statement's `now()` is its new expiry less its ttl.
        let (_, _, new_expiry) = row(&admin, "expiry", "outbox").await.unwrap();
        let won_at = new_expiry - TTL;
        assert!(
            won_at >= expires_at,
            "taken at {won_at:?}, before {expires_at:?}"
        );
        // And promptly: within a poll or two of the expiry.
        let late = won_at.duration_since(expires_at).unwrap();
        assert!(
            late < Duration::from_secs(2),
            "taken {late:?} after the expiry"
        );

        assert!(
            !store.renew(&term, ttl).await.unwrap(),
            "an expired term is lost"
        );
    })
    .await;
}

#[tokio::test]
async fn released_rows_keep_their_fence_and_holder() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = store(server, "released").await;
        let admin = server.client("released-admin").await;

        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        store.release(&term).await.unwrap();
        let released: bool = admin
            .query_one(
                "SELECT expires_at = '-infinity' FROM released WHERE name = 'outbox'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(released);
        let (holder, fence, _) = row(&admin, "released", "outbox").await.unwrap();
        assert_eq!((holder.as_str(), fence), ("web-1", 1));
    })
    .await;
}
