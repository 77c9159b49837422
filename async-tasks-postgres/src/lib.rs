//! A PostgreSQL lease store for [async-tasks]' fleet-wide singletons: [`PgLeases`], a
//! [`LeaseStore`] over one row per lease, judged by the database's clock.
//!
//! A singleton (`Tasks::run_singleton`) is a loop that runs on exactly one replica of a
//! service at a time, for as long as that replica holds a lease. The store that holds the
//! leases is what every replica must agree on; a service that already has PostgreSQL can
//! keep its leases there, in a table of their own:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use async_tasks::lease::LeaseStore;
//! use async_tasks_postgres::PgLeases;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), async_tasks::BoxError> {
//! let store = PgLeases::connect("postgres://app@db.internal/app").await?;
//! store.migrate().await?; // creates `async_tasks_leases` once; safe at every start
//!
//! // What a singleton does for you: campaign, renew, release.
//! let ttl = Duration::from_secs(15);
//! if let Some(term) = store.try_acquire("outbox", "web-1", ttl).await? {
//!     println!("leading {term}"); // outbox#1 (web-1)
//!     store.renew(&term, ttl).await?;
//!     store.release(&term).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Why a lease row
//!
//! A session-level advisory lock (`pg_try_advisory_lock`) looks like the tool, and is not: it
//! has no expiry, so a holder that is frozen or cut off keeps it for as long as the server
//! keeps its session (with default TCP settings, a frozen holder's host still answers
//! keepalives, and a cut-off one is noticed after hours), and the holder itself learns
//! nothing until its next query fails. A lease row expires
//! at a time the database sets and judges with its own `now()`: whoever stops renewing loses
//! the lease after its ttl, whatever happened to it, and every term carries a *fence* that a
//! write can be checked against.
//!
//! # The store
//!
//! - [`PgLeases::migrate`] creates the table (`async_tasks_leases`, or
//!   [`PgLeasesBuilder::table`]); see [`PgLeases`] for its columns and for the one statement
//!   behind each operation.
//! - Connections: [`PgLeases::connect`] (or [`connect_with`](PgLeases::connect_with) a
//!   `tokio_postgres::Config` and a TLS connector) opens a connection of the store's own and
//!   opens it again, with backoff, whenever it breaks. [`PgLeases::from_client`] uses a
//!   client you already have, [`PgLeases::from_source`] a pool (see [`ClientSource`]).
//! - Time: every call ends within the call timeout (5 s by default,
//!   [`PgLeasesBuilder::call_timeout`]), so that a renew never hangs past a singleton's
//!   `renew_deadline` (10 s by default) on a dead connection or a frozen server.
//!
//! What it guarantees, and what no lease can: see [`PgLeases`] ("Guarantees").
//!
//! # Fencing a write
//!
//! A lease does not stop a replica that lost it without knowing yet (paused, cut off) from
//! writing for a moment more. A write that must never come from two terms at once carries the
//! term's fence (`Term::current()` inside a singleton's run), and the receiving end refuses a
//! write older than the newest it has seen. In PostgreSQL that is a `fence` column on the
//! written row, checked in the same statement as the write, in your own transaction:
//!
//! ```no_run
//! use async_tasks::BoxError;
//! use async_tasks::lease::Term;
//!
//! /// Marks `up_to` as sent, unless a later term already wrote this row.
//! async fn mark_sent(
//!     db: &mut tokio_postgres::Client,
//!     id: i64,
//!     up_to: i64,
//! ) -> Result<(), BoxError> {
//!     let term = Term::current().ok_or("not in a singleton's run")?;
//!     let fence = i64::try_from(term.fence())?;
//!     let tx = db.transaction().await?;
//!     // ... the work of this step, in `tx` ...
//!     let updated = tx
//!         .execute(
//!             "UPDATE outbox_state SET sent_up_to = $1, fence = $2 \
//!              WHERE id = $3 AND fence <= $2",
//!             &[&up_to, &fence, &id],
//!         )
//!         .await?;
//!     if updated == 0 {
//!         // A later term wrote this row: this replica lost the lease. Roll back (dropping
//!         // `tx` does), and stop.
//!         return Err(format!("fenced off: {term} is not the latest term").into());
//!     }
//!     tx.commit().await?;
//!     Ok(())
//! }
//! ```
//!
//! When the written tables are in the same database as the leases, the transaction can
//! check the lease row itself instead, and hold it for its duration: `SELECT 1 FROM
//! async_tasks_leases WHERE name = $1 AND fence = $2 AND expires_at > now() FOR SHARE` returns
//! no row once the term is lost, and while the transaction holds the row, no other replica's
//! acquire can commit (it waits for the row, then finds the term still unexpired, or takes
//! over once it is not). Keep such transactions short: the holder's own renew waits for them
//! too. [`PgLeases::table`] gives the table's name as SQL spells it.
//!
//! # Testing
//!
//! This crate's own tests start a throwaway PostgreSQL from the system's binaries
//! (`apt-get install postgresql` where they are missing). A singleton's logic is best tested
//! without a database, on `async_tasks::lease::MemoryLeases` and tokio's paused clock.
//!
//! The store under `Tasks::run_singleton` is proven by a fault suite (`tests/singleton/`)
//! whose replicas are separate OS processes, each writing a row fenced by its term every
//! iteration, a checker reading the history afterwards: with `ttl` 3 s, `renew_deadline`
//! 2 s and `retry_every` 500 ms, a killed leader (`kill -9`) is replaced within `ttl +
//! retry_every`, a drained one within `retry_every`; a leader frozen past its `ttl` is
//! replaced, cancels its runs as it wakes (by its own clock, before any answer from the
//! database), and the write it had in flight is refused by the fence; a frozen database
//! makes every leader let go `renew_deadline` after its last good renew, and exactly one
//! leads once it resumes; a cut-off leader lets go at the same deadline, and follows once
//! the network heals. In every history, accepted writes go by increasing fence, each fence
//! wrote from one process only, and each term began after the one before it expired or was
//! released, by the database's clock.
//!
//! [async-tasks]: async_tasks
//! [`LeaseStore`]: async_tasks::lease::LeaseStore
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod builder;
mod clients;
mod connection;
mod error;
mod leases;
mod source;
mod table;

pub use self::builder::PgLeasesBuilder;
pub use self::leases::PgLeases;
pub use self::source::ClientSource;

/// Re-exported from [`async-trait`](https://docs.rs/async-trait), to implement
/// [`ClientSource`] without depending on it.
pub use async_trait::async_trait;
