//! Races, against a real server: replicas (each a store with its own connection, so its own
//! server process) asking at the same moment, for a new lease, a released one, an expired
//! one; and replicas migrating at the same moment.
//!
//! One server for the binary; each test has a table of its own.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_tasks::lease::{LeaseStore, Term};
use async_tasks_postgres::PgLeases;
use support::{PgServer, db_now, row, store, within};
use tokio::sync::Barrier;

const REPLICAS: usize = 8;
const ROUNDS: usize = 12;
const TTL: Duration = Duration::from_secs(60);
const LIMIT: Duration = Duration::from_secs(60);

/// `REPLICAS` stores over `table`, each with its own connection.
async fn replicas(table: &str) -> Vec<PgLeases> {
    let mut stores = Vec::new();
    for _ in 0..REPLICAS {
        stores.push(store(PgServer::shared(), table).await);
    }
    stores
}

/// Every replica asks for `name` at once (they meet at a barrier first); the terms granted.
async fn race(stores: &[PgLeases], name: &str, ttl: Duration) -> Vec<Term> {
    let barrier = Arc::new(Barrier::new(stores.len()));
    let asks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let (store, barrier, name) = (store.clone(), Arc::clone(&barrier), name.to_owned());
            tokio::spawn(async move {
                barrier.wait().await;
                store.try_acquire(&name, &format!("web-{i}"), ttl).await
            })
        })
        .collect();
    let mut granted = Vec::new();
    for ask in asks {
        granted.extend(ask.await.unwrap().unwrap());
    }
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_replicas_racing_for_a_new_lease_exactly_one_wins() {
    within(LIMIT, async {
        let stores = replicas("race_new").await;
        for round in 0..ROUNDS {
            let granted = race(&stores, &format!("lease-{round}"), TTL).await;
            assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
            assert_eq!(granted[0].fence(), 1);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_replicas_racing_for_a_released_lease_exactly_one_wins_each_round() {
    within(LIMIT, async {
        let stores = replicas("race_released").await;
        let mut fences = Vec::new();
        for round in 0..ROUNDS {
            let granted = race(&stores, "outbox", TTL).await;
            assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
            fences.push(granted[0].fence());
            stores[0].release(&granted[0]).await.unwrap();
        }
        assert_eq!(fences, (1..=ROUNDS as u64).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_replicas_racing_for_an_expired_lease_exactly_one_wins_each_round() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let stores = replicas("race_expired").await;
        let admin = server.client("race_expired-admin").await;
        let ttl = Duration::from_millis(50);
        let mut fences = Vec::new();
        for round in 0..ROUNDS / 2 {
            let granted = race(&stores, "outbox", ttl).await;
            assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
            fences.push(granted[0].fence());
            // Wait, on the database's clock, for the term to expire: the next round races
            // for an expired row, not a free one.
            let (_, _, expires_at) = row(&admin, "race_expired", "outbox").await.unwrap();
            while db_now(&admin).await < expires_at {
                tokio::time::sleep(Duration::from_millis(10)).await; // a poll of the database
            }
        }
        assert_eq!(fences, (1..=(ROUNDS / 2) as u64).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_at_once_all_succeed_and_migrating_again_changes_nothing() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let mut stores = Vec::new();
        for _ in 0..REPLICAS {
            let store = PgLeases::builder()
                .table("migrated")
                .connect(&server.url("migrated"))
                .await
                .unwrap();
            stores.push(store);
        }
        let barrier = Arc::new(Barrier::new(REPLICAS));
        let migrations: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.migrate().await
                })
            })
            .collect();
        for migration in migrations {
            migration.await.unwrap().expect("a concurrent migration");
        }

        let term = stores[0]
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        for store in &stores {
            store.migrate().await.unwrap();
        }
        assert!(
            stores[1].renew(&term, TTL).await.unwrap(),
            "the row survived"
        );
        let admin = server.client("migrated-admin").await;
        let tables: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'migrated'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 1);
    })
    .await;
}
