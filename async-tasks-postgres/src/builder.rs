//! [`PgLeasesBuilder`]: the options of a [`PgLeases`], and the ways to make one (its own
//! connection, a client, a source).

use std::sync::Arc;
use std::time::Duration;

use async_tasks::BoxError;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, NoTls, Socket};

use crate::clients::Clients;
use crate::connection::{Live, Open, Reconnecting, drive};
use crate::error::StoreError;
use crate::leases::{DEFAULT_CALL_TIMEOUT, PgLeases};
use crate::source::ClientSource;
use crate::table::Table;

/// The `application_name` of the store's own connections, unless the configuration gives
/// one: how to find them in `pg_stat_activity`.
const APPLICATION_NAME: &str = "async-tasks-postgres";

/// The options of a [`PgLeases`]: its table and its call timeout; then one of
/// [`connect`](PgLeasesBuilder::connect), [`connect_with`](PgLeasesBuilder::connect_with),
/// [`client`](PgLeasesBuilder::client) or [`source`](PgLeasesBuilder::source) makes it.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use async_tasks_postgres::PgLeases;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), async_tasks::BoxError> {
/// let store = PgLeases::builder()
///     .table("singleton_leases")
///     .call_timeout(Duration::from_secs(2))
///     .connect("postgres://app@db.internal/app")
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect`, `connect_with`, `client` or `source`"]
pub struct PgLeasesBuilder {
    table: String,
    call_timeout: Duration,
}

impl Default for PgLeasesBuilder {
    fn default() -> Self {
        PgLeasesBuilder {
            table: Table::DEFAULT.to_owned(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

impl PgLeasesBuilder {
    /// The defaults: the table `async_tasks_leases`, a call timeout of 5 s.
    pub fn new() -> Self {
        PgLeasesBuilder::default()
    }

    /// The lease table: an identifier of `[A-Za-z_][A-Za-z0-9_]*` (at most 63 bytes), or
    /// `schema.table`. It is quoted in every statement, so its case is kept:
    /// `table("Leases")` is the table `"Leases"`, not `leases`.
    ///
    /// Checked when the store is made: [`connect`](PgLeasesBuilder::connect) and the others
    /// return an error for any other name (nothing else is ever pasted into SQL).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// How long a call (an acquire, renew, release or migrate, getting a connection
    /// included) may take before it fails with "timed out": 5 s by default. On the store's
    /// own connection it is also the session's `statement_timeout`, so the server gives up
    /// on the statement too, and a call that timed out closes the connection (the next one
    /// opens another).
    ///
    /// Keep it well under the singleton's `renew_deadline` (10 s by default), so that a
    /// renew that hangs fails in time to be tried again.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "the call timeout must be more than zero"
        );
        self.call_timeout = timeout;
        self
    }

    /// Connects to `url` (`postgres://user:password@host:port/dbname?...`, or the key-value
    /// form `host=... user=...`) without TLS, and makes the store over that connection,
    /// opened again whenever it breaks.
    ///
    /// The first connection is opened here, within the call timeout, so that a wrong
    /// address or password fails at startup; later ones when a call needs one.
    ///
    /// # Errors
    ///
    /// The table's name is refused, `url` does not parse, or the first connection fails or
    /// times out.
    pub async fn connect(self, url: &str) -> Result<PgLeases, BoxError> {
        Table::new(&self.table)?;
        let config: Config = url.parse().map_err(StoreError::connect)?;
        self.connect_with(config, NoTls).await
    }

    /// Connects with `config` and `tls` (`NoTls`, or a TLS connector such as
    /// `postgres-native-tls`'s or `tokio-postgres-rustls`'s), and makes the store over that
    /// connection, opened again whenever it breaks.
    ///
    /// The session's `application_name` is `async-tasks-postgres` unless `config` sets one,
    /// and its `statement_timeout` is the call timeout.
    ///
    /// # Errors
    ///
    /// The table's name is refused, or the first connection fails or times out.
    pub async fn connect_with<T>(self, mut config: Config, tls: T) -> Result<PgLeases, BoxError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let table = Table::new(&self.table)?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        // The server's own bound; at least 1 ms, as 0 would switch it off.
        let statement_timeout = self.call_timeout.as_millis().clamp(1, i32::MAX as u128);
        let session = format!("SET statement_timeout = {statement_timeout}");
        let open: Open = Arc::new(move || {
            let (config, tls, session) = (config.clone(), tls.clone(), session.clone());
            Box::pin(async move {
                let (client, connection) = config.connect(tls).await?;
                let live = Live::new(client, drive(connection));
                live.client().batch_execute(&session).await?;
                Ok(live)
            })
        });
        let first = match tokio::time::timeout(self.call_timeout, open()).await {
            Ok(Ok(live)) => live,
            Ok(Err(err)) => return Err(StoreError::connect(err).into()),
            Err(_elapsed) => {
                return Err(StoreError::timed_out("connecting", self.call_timeout, None).into());
            }
        };
        let clients = Clients::Own(Box::new(Reconnecting::new(open, Some(first))));
        Ok(PgLeases::from_parts(table, self.call_timeout, clients))
    }

    /// Makes the store over `client`, a connection that you opened (and whose connection
    /// task you spawned).
    ///
    /// The store never reconnects it: once it breaks, every call fails (with "connection
    /// closed"). Nor does it set the session's `statement_timeout`; the call timeout still
    /// bounds every call. For a connection that heals, use [`connect`](Self::connect) or
    /// [`connect_with`](Self::connect_with), or a pool through [`source`](Self::source).
    ///
    /// # Errors
    ///
    /// The table's name is refused.
    pub fn client(self, client: Client) -> Result<PgLeases, BoxError> {
        self.source(Arc::new(client))
    }

    /// Makes the store over `source`, which lends a client for each call (a pool): see
    /// [`ClientSource`].
    ///
    /// # Errors
    ///
    /// The table's name is refused.
    pub fn source<S: ClientSource>(self, source: S) -> Result<PgLeases, BoxError> {
        let table = Table::new(&self.table)?;
        let clients = Clients::Source(Box::new(source));
        Ok(PgLeases::from_parts(table, self.call_timeout, clients))
    }
}

impl PgLeases {
    /// The options of a store: its table and its call timeout.
    pub fn builder() -> PgLeasesBuilder {
        PgLeasesBuilder::new()
    }

    /// Connects to `url` without TLS, and makes a store with the defaults (the table
    /// `async_tasks_leases`, a call timeout of 5 s): see [`PgLeasesBuilder::connect`].
    ///
    /// # Errors
    ///
    /// `url` does not parse, or the first connection fails or times out.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), async_tasks::BoxError> {
    /// let store = async_tasks_postgres::PgLeases::connect("postgres://app@localhost/app").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<PgLeases, BoxError> {
        PgLeasesBuilder::new().connect(url).await
    }

    /// Connects with `config` and `tls`, and makes a store with the defaults: see
    /// [`PgLeasesBuilder::connect_with`].
    ///
    /// # Errors
    ///
    /// The first connection fails or times out.
    pub async fn connect_with<T>(config: Config, tls: T) -> Result<PgLeases, BoxError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        PgLeasesBuilder::new().connect_with(config, tls).await
    }

    /// A store with the defaults over `client`, a connection you opened and drive: see
    /// [`PgLeasesBuilder::client`] (it is never reconnected).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tokio_postgres::NoTls;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), async_tasks::BoxError> {
    /// let (client, connection) = tokio_postgres::connect("host=localhost user=app", NoTls).await?;
    /// tokio::spawn(connection);
    /// let store = async_tasks_postgres::PgLeases::from_client(client);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_client(client: Client) -> PgLeases {
        PgLeases::from_source(Arc::new(client))
    }

    /// A store with the defaults over `source` (a pool): see [`ClientSource`].
    #[must_use]
    pub fn from_source<S: ClientSource>(source: S) -> PgLeases {
        let clients = Clients::Source(Box::new(source));
        PgLeases::from_parts(Table::default(), DEFAULT_CALL_TIMEOUT, clients)
    }
}
