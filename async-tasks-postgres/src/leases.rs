//! [`PgLeases`]: the lease store over a table, and the bound on each of its calls.
//!
//! Invariants: each operation is one SQL statement (see [`table`](crate::table)), run in its
//! own implicit transaction; every call, getting a client included, ends within the call
//! timeout; a call that timed out gives up on its connection.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_tasks::BoxError;
use async_tasks::lease::{LeaseStore, Term};
use tokio::time::{Instant, timeout_at};
use tokio_postgres::types::Type;

use crate::clients::{Checkout, Clients};
use crate::error::StoreError;
use crate::table::Table;

/// A [`LeaseStore`] over a table of PostgreSQL: one row per lease, judged by the database's
/// clock.
///
/// The table (`async_tasks_leases` unless [`table`](crate::PgLeasesBuilder::table) says
/// otherwise; [`migrate`](PgLeases::migrate) creates it) has a row per lease name:
///
/// | column | type | |
/// |---|---|---|
/// | `name` | `text primary key` | the lease's name |
/// | `holder` | `text not null` | who holds (or last held) it |
/// | `fence` | `bigint not null` | the current (or last) term's fence: 1, then one more per term |
/// | `expires_at` | `timestamptz not null` | when the term ends, by the database's `now()`; `-infinity` once released |
///
/// Each operation is one statement, atomic on its own:
/// - [`try_acquire`](LeaseStore::try_acquire): an `INSERT ... ON CONFLICT (name) DO UPDATE
///   ... WHERE expires_at <= now() RETURNING fence`: a new row with fence 1, or the expired
///   row taken over with fence + 1; of concurrent acquires of one lease exactly one gets a
///   row back (the others wait for its row lock, then see its unexpired term);
/// - [`renew`](LeaseStore::renew): an `UPDATE ... SET expires_at = now() + ttl WHERE name,
///   holder and fence are the term's AND expires_at > now()`: `true` when it updated the row;
/// - [`release`](LeaseStore::release): the same `UPDATE` setting `expires_at` to
///   `-infinity`: the lease is free at once, the row and its fence stay.
///
/// A ttl is sent in whole milliseconds (rounded down), and added to the statement's `now()`
/// on the server.
///
/// Cheap to clone: clones share the connection (or the source) and the table.
///
/// # Guarantees
///
/// - At any instant of the *database's* clock, at most one unexpired term per lease name, and
///   each term's fence is greater than every earlier term's (the row is never deleted by the
///   store, so this holds across releases, expiries and restarts). The replicas' clocks play
///   no part in it: every statement reads `now()` on the server.
/// - Every call returns within the call timeout (5 s by default, see
///   [`call_timeout`](crate::PgLeasesBuilder::call_timeout)), whatever the server or the
///   network does: a `tokio::time::timeout` around getting a connection and running the
///   statement, and, on the store's own connection, a `statement_timeout` of the same length
///   set for the session, so the server gives up too.
/// - The store's own connection ([`connect`](PgLeases::connect)) is opened again when it
///   breaks: a call that finds it closed reconnects first, attempts spaced by a backoff
///   (100 ms doubling up to 1 s, with jitter); a call that timed out on it closes it.
///
/// # What it does not guarantee
///
/// - That a holder *knows* it lost its lease. A replica that is paused (a stop, a long GC, a
///   suspended VM) or cut off keeps running its work until its own deadline passes; the
///   database gives the lease to another once the term expires. `Tasks::run_singleton`
///   cancels the work when no renew succeeded within `renew_deadline`, shorter than the ttl,
///   by the monotonic clock; a paused process cannot even do that. Whatever must never be
///   done twice at once must be *fenced*: see the crate's docs, "Fencing a write".
/// - Sound expiries across a jump of the database host's clock: a step forward (an NTP
///   correction) ends terms early; a step back makes them last longer.
/// - Fences across a failover to a standby that had not received the latest writes (an
///   asynchronous replica): the lease row can go back to an earlier term. Deleting rows or
///   truncating the table resets fences too.
///
/// # Errors
///
/// Every call (and [`migrate`](PgLeases::migrate)) fails with a `BoxError` whose message
/// starts with `postgres lease store:`, names the call and the lease, and says why: the
/// server's error, `connection closed`, or `timed out after 5s` (with the last error met
/// while reconnecting, if it was still waiting for a connection). An error says nothing of
/// the lease: an acquire may have been granted, a renew may have been applied.
///
/// # Cancel safety
///
/// Each call is one statement: dropped at any `.await`, or timed out, it either committed in
/// the database or did not. A [`try_acquire`](LeaseStore::try_acquire) that committed but
/// whose result was never seen grants a term that nobody holds: it keeps the lease from
/// everyone (its own holder included) until its ttl passes, as a term whose holder died
/// does. To avoid the wait, let the call finish (it is bounded) and release what it
/// returns. A statement can even commit after its call timed out, when a frozen server or
/// network wakes up: the same holds.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use async_tasks::lease::LeaseStore;
/// use async_tasks_postgres::PgLeases;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), async_tasks::BoxError> {
/// let store = PgLeases::connect("postgres://app@db.internal/app").await?;
/// store.migrate().await?; // at every start: it creates the table only once
///
/// let ttl = Duration::from_secs(15);
/// if let Some(term) = store.try_acquire("outbox", "web-1", ttl).await? {
///     // This replica holds "outbox" for 15 s by the database's clock.
///     assert!(store.try_acquire("outbox", "web-2", ttl).await?.is_none());
///     assert!(store.renew(&term, ttl).await?);
///     store.release(&term).await?; // free at once; the next term's fence is higher
///     assert!(!store.renew(&term, ttl).await?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgLeases {
    inner: Arc<Inner>,
}

struct Inner {
    table: Table,
    call_timeout: Duration,
    clients: Clients,
}

/// The call timeout unless told otherwise: half the default `renew_deadline` (10 s), so that
/// a renew that hangs fails with room to try once more before the deadline.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl PgLeases {
    /// A store over `table` whose calls get their clients from `clients`, each call bounded
    /// by `call_timeout`.
    pub(crate) fn from_parts(table: Table, call_timeout: Duration, clients: Clients) -> PgLeases {
        PgLeases {
            inner: Arc::new(Inner {
                table,
                call_timeout,
                clients,
            }),
        }
    }

    /// Creates the lease table if it does not exist.
    ///
    /// Idempotent, and safe when several replicas run it at once: the statement takes a
    /// transaction-scoped advisory lock (keyed on the table's name) before `CREATE TABLE IF
    /// NOT EXISTS`, so concurrent migrations run one after the other and all but the first
    /// find the table. It does not check the shape of a table that exists, nor create a
    /// schema (`schema.table` needs the schema).
    ///
    /// # Errors
    ///
    /// The server refused (no `CREATE` privilege on the schema, the schema does not exist)
    /// or could not be reached within the call timeout.
    ///
    /// # Cancel safety
    ///
    /// One transaction: dropped, the table was created or it was not.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), async_tasks::BoxError> {
    /// let store = async_tasks_postgres::PgLeases::builder()
    ///     .table("ops.singleton_leases")
    ///     .connect("host=localhost user=app dbname=app")
    ///     .await?;
    /// store.migrate().await?;
    /// store.migrate().await?; // nothing more
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), BoxError> {
        let sql = &self.inner.table.sql().migrate;
        self.call(
            || format!("migrate of {}", self.inner.table.quoted()),
            |client| async move { client.batch_execute(sql).await },
        )
        .await
    }

    /// The lease table's name as it appears in SQL, quoted: `"async_tasks_leases"`,
    /// `"ops"."leases"`. For a statement of your own over the table (a write fenced on the
    /// lease row itself, see the crate's docs).
    #[must_use]
    pub fn table(&self) -> &str {
        self.inner.table.quoted()
    }

    /// How long a call may take before it fails (see
    /// [`call_timeout`](crate::PgLeasesBuilder::call_timeout)).
    #[must_use]
    pub fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }

    /// Runs `op` on a client, all of it within the call timeout; `call` names the call in
    /// an error.
    async fn call<T, F, Fut>(&self, call: impl Fn() -> String, op: F) -> Result<T, BoxError>
    where
        F: FnOnce(Checkout) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.call_timeout;
        let client = match timeout_at(deadline, inner.clients.checkout()).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => return Err(StoreError::no_client(&call(), err).into()),
            Err(_elapsed) => {
                let reconnecting = inner.clients.connect_error();
                return Err(
                    StoreError::timed_out(&call(), inner.call_timeout, reconnecting).into(),
                );
            }
        };
        let ticket = client.ticket();
        match timeout_at(deadline, op(client)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                // A closed connection, or a server that ended the session (an administrator's
                // `pg_terminate_backend`, a shutdown): either way the session is gone.
                let broken = err.is_closed() || is_fatal(&err);
                inner.clients.failed(&ticket, broken);
                Err(StoreError::failed(&call(), err).into())
            }
            Err(_elapsed) => {
                // The connection is hung or too slow to trust: close it; the next call opens
                // another.
                inner.clients.failed(&ticket, true);
                Err(StoreError::timed_out(&call(), inner.call_timeout, None).into())
            }
        }
    }
}

/// Whether the server reported an error that ends the session (severity `FATAL` or
/// `PANIC`).
fn is_fatal(err: &tokio_postgres::Error) -> bool {
    err.as_db_error()
        .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"))
}

/// `ttl` in whole milliseconds, as the statements take it.
fn millis(call: impl FnOnce() -> String, ttl: Duration) -> Result<i64, BoxError> {
    i64::try_from(ttl.as_millis())
        .map_err(|_| StoreError::out_of_range(&call(), "the ttl is too long").into())
}

#[async_trait::async_trait]
impl LeaseStore for PgLeases {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        let call = || format!("try_acquire of {name:?} for {holder:?}");
        let ttl = millis(call, ttl)?;
        let sql = &self.inner.table.sql().acquire;
        let row = self
            .call(call, |client| async move {
                let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] = [
                    (&name, Type::TEXT),
                    (&holder, Type::TEXT),
                    (&ttl, Type::INT8),
                ];
                client.query_typed_opt(sql, &params).await
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let fence: i64 = row
            .try_get(0)
            .map_err(|err| StoreError::failed(&call(), err))?;
        let fence = u64::try_from(fence)
            .map_err(|_| StoreError::out_of_range(&call(), "the row's fence is negative"))?;
        Ok(Some(Term::new(name, holder, fence)))
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        let call = || format!("renew of {term}");
        let ttl = millis(call, ttl)?;
        // A fence beyond a `bigint` was never granted by this store: not held.
        let Ok(fence) = i64::try_from(term.fence()) else {
            return Ok(false);
        };
        let (name, holder) = (term.name(), term.holder());
        let sql = &self.inner.table.sql().renew;
        let updated = self
            .call(call, |client| async move {
                let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
                    (&name, Type::TEXT),
                    (&holder, Type::TEXT),
                    (&fence, Type::INT8),
                    (&ttl, Type::INT8),
                ];
                client.execute_typed(sql, &params).await
            })
            .await?;
        Ok(updated == 1)
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        let Ok(fence) = i64::try_from(term.fence()) else {
            return Ok(());
        };
        let (name, holder) = (term.name(), term.holder());
        let sql = &self.inner.table.sql().release;
        self.call(
            || format!("release of {term}"),
            |client| async move {
                let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] = [
                    (&name, Type::TEXT),
                    (&holder, Type::TEXT),
                    (&fence, Type::INT8),
                ];
                client.execute_typed(sql, &params).await
            },
        )
        .await?;
        Ok(())
    }
}

impl fmt::Debug for PgLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLeases")
            .field("table", &self.inner.table)
            .field("call_timeout", &self.inner.call_timeout)
            .field("clients", &self.inner.clients)
            .finish()
    }
}
