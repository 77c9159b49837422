//! What the tests of the store share: a throwaway PostgreSQL ([`PgServer`]), a TCP proxy that
//! can cut or black-hole traffic ([`Proxy`]), and a bound on each test's time ([`within`]).
//!
//! Each test binary uses a part of it.
#![allow(dead_code, unused_imports, unreachable_pub)]

mod proxy;
mod server;

use std::future::Future;
use std::time::{Duration, SystemTime};

use async_tasks_postgres::PgLeases;

pub use self::proxy::{Mode, Proxy};
pub use self::server::{PgServer, free_port, signal};

/// Runs `test`, failing if it takes longer than `limit`: no test of a server may hang.
pub async fn within<T>(limit: Duration, test: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, test).await {
        Ok(out) => out,
        Err(_) => panic!("the test did not finish within {limit:?}"),
    }
}

/// A store with its own connection to `server`, over `table` (created), its sessions named
/// `table` too (to find them in `pg_stat_activity`).
pub async fn store(server: &PgServer, table: &str) -> PgLeases {
    let store = PgLeases::builder()
        .table(table)
        .connect(&server.url(table))
        .await
        .expect("connect the store");
    store.migrate().await.expect("migrate");
    store
}

/// The row of lease `name` in `table`: its holder, fence and expiry.
pub async fn row(
    admin: &tokio_postgres::Client,
    table: &str,
    name: &str,
) -> Option<(String, i64, SystemTime)> {
    let sql = format!("SELECT holder, fence, expires_at FROM \"{table}\" WHERE name = $1");
    let row = admin
        .query_opt(&sql, &[&name])
        .await
        .expect("read the lease row")?;
    Some((row.get(0), row.get(1), row.get(2)))
}

/// The database's `now()`.
pub async fn db_now(admin: &tokio_postgres::Client) -> SystemTime {
    admin
        .query_one("SELECT now()", &[])
        .await
        .expect("read now()")
        .get(0)
}
