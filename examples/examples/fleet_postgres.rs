//! One replica of a service whose relay must run on one replica at a time: a fleet-wide
//! singleton (`Tasks::run_singleton`) held by a lease in PostgreSQL (`PgLeases`). Run it
//! once per process, in as many terminals as you like, against one database:
//!
//! ```text
//! export DATABASE_URL=postgres://postgres@localhost/postgres
//! cargo run -p async-tasks-examples --example fleet_postgres -- web-1
//! cargo run -p async-tasks-examples --example fleet_postgres -- web-2
//! cargo run -p async-tasks-examples --example fleet_postgres -- web-3
//! ```
//!
//! One of them leads and relays, once a second, writing under its term's fence:
//!
//! ```text
//! INFO lease "relay" taken: this replica leads (fence 1)
//! web-1 relayed batch 1 under relay#1 (web-1)
//! web-1 relayed batch 2 under relay#1 (web-1)
//! ```
//!
//! The others wait. Stop the leader with Ctrl-C: it cancels its relay, releases the lease
//! and exits, and another replica leads within a second (`retry_every`). Kill it instead
//! (`kill -9`): another leads once the lease expires, within `ttl + retry_every` (7 s here).
//! Freeze it (`kill -STOP`, then `kill -CONT` after 10 s): another leads meanwhile, and the
//! frozen one, resumed, cancels its relay at once (`LeaseLost`), and a write it still makes
//! is refused: its fence is older than the row's. The first argument (or `REPLICA`) names the
//! replica; `DATABASE_URL` (or the second argument) says where the database is. The README's
//! "Leases in PostgreSQL" says how to start one.

use std::io::IsTerminal as _;
use std::time::Duration;

use async_tasks::backon::ConstantBuilder;
use async_tasks::lease::{Lease, Term};
use async_tasks::runner::async_trait;
use async_tasks::task::LoopPolicy;
use async_tasks::{BoxError, Context, Runner, Tasks, shutdown_on_signals};
use async_tasks_postgres::PgLeases;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};
use tracing_subscriber::EnvFilter;

/// The lease the replicas campaign for.
const LEASE: &str = "relay";

/// The relay's own table: one row, written only under the newest fence. One message, so
/// one transaction, under an advisory lock: replicas starting together would otherwise race
/// `CREATE TABLE IF NOT EXISTS` (both find no table, the second fails).
const MIGRATE: &str = "SELECT pg_advisory_xact_lock(hashtext('fleet_relay'));
    CREATE TABLE IF NOT EXISTS fleet_relay (
        id int PRIMARY KEY,
        batches bigint NOT NULL,
        fence bigint NOT NULL,
        holder text NOT NULL
    );
    INSERT INTO fleet_relay VALUES (1, 0, 0, '') ON CONFLICT DO NOTHING";

/// Relays the next batch, unless a later term already did: the fence is checked in the
/// statement that writes (`fence <= $1`), in the write's own transaction.
const RELAY: &str = "UPDATE fleet_relay SET batches = batches + 1, fence = $1, holder = $2
    WHERE id = 1 AND fence <= $1 RETURNING batches";

/// Shorter than the defaults (15 s, 10 s, 2 s), to see a takeover in a few seconds.
const TTL: Duration = Duration::from_secs(6);
const RENEW_DEADLINE: Duration = Duration::from_secs(4);
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tokio_postgres=warn".into()),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(async_tasks::fmt::Fields::new())
        .init();
    let mut args = std::env::args().skip(1);
    let replica = args
        .next()
        .or_else(|| std::env::var("REPLICA").ok())
        .unwrap_or_else(|| format!("replica-{}", std::process::id()));
    let url = std::env::var("DATABASE_URL")
        .ok()
        .or_else(|| args.next())
        .ok_or("set DATABASE_URL (postgres://user@host/db), or pass it after the name")?;

    // Done at the first Ctrl-C / SIGTERM: the relay is canceled and the lease released.
    let ctx = shutdown_on_signals();
    let tasks = Tasks::new("fleet");
    start(&tasks, &ctx, &url, &replica).await?;
    println!("{replica} started: campaigning for lease {LEASE:?}");
    ctx.done().await;
    tasks.drain(Duration::from_secs(5)).await?;
    println!("{replica} stopped");
    Ok(())
}

/// Starts this replica's singleton on `tasks`, its lease and its writes in the database at
/// `url`, under `ctx`.
async fn start(tasks: &Tasks, ctx: &Context, url: &str, replica: &str) -> Result<(), BoxError> {
    // Its own connection, opened again whenever it breaks; every call bounded (5 s).
    let leases = PgLeases::connect(url).await?;
    leases.migrate().await?;
    let relay = Relay {
        url: url.to_owned(),
        replica: replica.to_owned(),
        client: Mutex::new(None),
    };
    relay.client().await?.batch_execute(MIGRATE).await?;
    let lease = Lease::new(LEASE, leases)
        .holder(replica)
        .ttl(TTL)
        .renew_deadline(RENEW_DEADLINE)
        .retry_every(RETRY_EVERY);
    // Once a second; a failed batch (the database away) is tried again after a second.
    let policy = LoopPolicy::every(Duration::from_secs(1)).on_error(
        ConstantBuilder::default()
            .with_delay(Duration::from_secs(1))
            .without_max_times(),
    );
    tasks.run_singleton_with(ctx, lease, relay, policy);
    Ok(())
}

/// The singleton's body: relays one batch per iteration, under its term.
struct Relay {
    url: String,
    replica: String,
    /// The connection of the writes: opened when needed, dropped when it broke.
    client: Mutex<Option<Client>>,
}

impl Relay {
    /// The connection of the writes, opened first if there is none or it closed.
    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, BoxError> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(connection);
            // A write never waits longer than this on a lock or a frozen server.
            client.batch_execute("SET statement_timeout = 5000").await?;
            *slot = Some(client);
        }
        Ok(tokio::sync::MutexGuard::map(slot, |slot| {
            slot.as_mut().expect("connected above")
        }))
    }
}

#[async_trait]
impl Runner for Relay {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        // The term this run is under: its fence goes with every write.
        let term = Term::current().ok_or("not in a singleton's run")?;
        let fence = i64::try_from(term.fence())?;
        let client = self.client().await?;
        let relayed = ctx
            .run_until_done(client.query_opt(RELAY, &[&fence, &self.replica]))
            .await?;
        match relayed? {
            Some(row) => {
                let batch: i64 = row.get(0);
                println!("{} relayed batch {batch} under {term}", self.replica);
                Ok(())
            }
            // A later term wrote: this replica lost the lease and does not know it yet.
            None => Err(format!("{term} is fenced off: a later term relays now").into()),
        }
    }

    fn name(&self) -> Option<&'static str> {
        Some("relay")
    }
}

#[cfg(test)]
#[path = "../../async-tasks-postgres/tests/support/mod.rs"]
mod support;

/// The example, three replicas in one process, against the throwaway server of
/// async-tasks-postgres' tests.
#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Who leads, as the replicas' snapshots say: the index of the one that does.
    async fn leader(replicas: &[Tasks], limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let leading: Vec<usize> = (0..replicas.len())
                .filter(|&i| {
                    replicas[i]
                        .snapshot()
                        .tasks
                        .iter()
                        .any(|t| t.term.is_some())
                })
                .collect();
            match leading[..] {
                [one] => return one,
                [] => assert!(Instant::now() < deadline, "no leader within {limit:?}"),
                _ => panic!("two replicas lead: {leading:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // a poll of the snapshots
        }
    }

    async fn batches(admin: &Client) -> (i64, i64) {
        let row = admin
            .query_one("SELECT batches, fence FROM fleet_relay WHERE id = 1", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_replica_relays_and_another_takes_over_when_it_stops() {
        let server = support::PgServer::shared();
        support::within(Duration::from_secs(60), async {
            let url = server.url("fleet-example");
            let names = ["web-1", "web-2", "web-3"];
            let mut stops = Vec::new();
            let mut replicas = Vec::new();
            for name in names {
                let (ctx, stop) = Context::background().with_cancel();
                let tasks = Tasks::new("fleet");
                start(&tasks, &ctx, &url, name).await.unwrap();
                replicas.push(tasks);
                stops.push(stop);
            }
            let first = leader(&replicas, Duration::from_secs(10)).await;
            let admin = server.client("fleet-example-admin").await;
            let deadline = Instant::now() + Duration::from_secs(10);
            while batches(&admin).await.0 < 2 {
                assert!(Instant::now() < deadline, "no batches relayed");
                tokio::time::sleep(Duration::from_millis(50)).await; // a poll of the table
            }
            let (before, fence) = batches(&admin).await;

            // Ctrl-C on the leader: it lets go, and another leads within `retry_every`.
            let stopped = Instant::now();
            stops[first].cancel();
            replicas[first].drain(Duration::from_secs(5)).await.unwrap();
            let next = leader(&replicas, RETRY_EVERY * 3).await;
            assert_ne!(next, first);
            assert!(
                stopped.elapsed() < TTL,
                "the lease was released, not left to expire"
            );
            while batches(&admin).await.1 == fence {
                assert!(
                    Instant::now() < deadline + TTL,
                    "the next leader never relayed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await; // a poll of the table
            }
            let (after, new_fence) = batches(&admin).await;
            assert!(
                new_fence > fence && after > before,
                "{after} after {before}"
            );
            for (stop, tasks) in stops.iter().zip(&replicas) {
                stop.cancel();
                tasks.drain(Duration::from_secs(5)).await.unwrap();
            }
        })
        .await;
    }
}
