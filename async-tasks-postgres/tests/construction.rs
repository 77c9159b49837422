//! Making a store, against a real server: the table option (refused names, a schema, a
//! name whose case matters), a client or a source of the user's, and connections that fail.
//!
//! One server for the binary; each test has a table of its own.

mod support;

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_tasks::BoxError;
use async_tasks::lease::LeaseStore;
use async_tasks_postgres::{ClientSource, PgLeases};
use support::{PgServer, free_port, within};
use tokio_postgres::Client;

const TTL: Duration = Duration::from_secs(60);
const LIMIT: Duration = Duration::from_secs(30);
const BAD_NAMES: [&str; 6] = [
    "",
    "a b",
    "leases; DROP TABLE users",
    "1st",
    "a.b.c",
    "\"x\"",
];

#[tokio::test]
async fn a_bad_table_name_is_refused_before_anything_else() {
    within(LIMIT, async {
        let server = PgServer::shared();
        for bad in BAD_NAMES {
            // Nothing listens there: the name is refused first, so that is the error.
            let url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
            let err = PgLeases::builder()
                .table(bad)
                .connect(&url)
                .await
                .unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "postgres lease store: invalid table name {bad:?}: expected an identifier"
                )),
                "{err}"
            );
            let client = server.client("bad-names").await;
            assert!(PgLeases::builder().table(bad).client(client).is_err());
        }
    })
    .await;
}

#[tokio::test]
async fn a_table_can_be_in_a_schema_and_keeps_its_case() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let admin = server.client("schema-admin").await;
        admin.batch_execute("CREATE SCHEMA ops").await.unwrap();
        let store = PgLeases::builder()
            .table("ops.Leases")
            .connect(&server.url("schema"))
            .await
            .unwrap();
        assert_eq!(store.table(), "\"ops\".\"Leases\"");
        store.migrate().await.unwrap();
        store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();

        let rows: i64 = admin
            .query_one("SELECT count(*) FROM ops.\"Leases\"", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1);
        let folded: Option<String> = admin
            .query_one("SELECT to_regclass('ops.leases')::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(folded, None, "quoted: not the case-folded `ops.leases`");
    })
    .await;
}

#[tokio::test]
async fn a_store_over_the_users_client_works_and_is_never_reconnected() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let client = server.client("users-client").await;
        let store = PgLeases::builder()
            .table("users_client")
            .client(client)
            .unwrap();
        store.migrate().await.unwrap();
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(store.renew(&term, TTL).await.unwrap());

        // Its connection is the user's: once it is gone, calls fail, saying so.
        assert_eq!(server.terminate("users-client").await, 1);
        for _ in 0..3 {
            let err = store.renew(&term, TTL).await.unwrap_err().to_string();
            assert!(err.starts_with("postgres lease store: renew of outbox#1 (web-1) failed"));
        }
        assert!(server.backends("users-client").await.is_empty());
    })
    .await;
}

/// The stores made without the builder: `connect_with` names its sessions for the crate
/// (the config named none) and uses the default table, which `from_client`'s store over a
/// client of the user's shares.
#[tokio::test]
async fn stores_made_without_the_builder_share_the_default_table() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let config: tokio_postgres::Config =
            format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
                .parse()
                .unwrap();
        let ours = PgLeases::connect_with(config, tokio_postgres::NoTls)
            .await
            .unwrap();
        assert_eq!(ours.table(), "\"async_tasks_leases\"");
        assert_eq!(server.backends("async-tasks-postgres").await.len(), 1);
        ours.migrate().await.unwrap();
        let term = ours
            .try_acquire("defaults", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();

        let theirs = PgLeases::from_client(server.client("from-client").await);
        assert_eq!(theirs.table(), ours.table());
        assert!(
            theirs
                .try_acquire("defaults", "web-2", TTL)
                .await
                .unwrap()
                .is_none(),
            "the same row: held by web-1"
        );
        theirs.release(&term).await.unwrap();
        assert!(
            !ours.renew(&term, TTL).await.unwrap(),
            "released through the other"
        );
    })
    .await;
}

/// A pool of one client, counting its loans; or no client at all.
struct OneClient {
    client: Option<Arc<Client>>,
    lent: Arc<AtomicUsize>,
    back: Arc<AtomicUsize>,
}

/// A client on loan: counted back when dropped.
struct Loan {
    client: Arc<Client>,
    back: Arc<AtomicUsize>,
}

impl Deref for Loan {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        self.back.fetch_add(1, Ordering::Relaxed); // read after the calls
    }
}

#[async_tasks_postgres::async_trait]
impl ClientSource for OneClient {
    type Client = Loan;

    async fn client(&self) -> Result<Loan, BoxError> {
        let client = self.client.clone().ok_or("the pool is closed")?;
        self.lent.fetch_add(1, Ordering::Relaxed);
        Ok(Loan {
            client,
            back: Arc::clone(&self.back),
        })
    }
}

#[tokio::test]
async fn a_store_over_a_source_borrows_a_client_for_each_call() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let (lent, back) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let pool = OneClient {
            client: Some(Arc::new(server.client("source").await)),
            lent: Arc::clone(&lent),
            back: Arc::clone(&back),
        };
        let store = PgLeases::builder().table("source").source(pool).unwrap();
        store.migrate().await.unwrap();
        let term = store
            .try_acquire("outbox", "web-1", TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(store.renew(&term, TTL).await.unwrap());
        store.release(&term).await.unwrap();
        assert_eq!(lent.load(Ordering::Relaxed), 4);
        assert_eq!(back.load(Ordering::Relaxed), 4, "every client given back");

        let closed = PgLeases::from_source(OneClient {
            client: None,
            lent,
            back,
        });
        let err = closed.release(&term).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "postgres lease store: release of outbox#1 (web-1): no client from the source: \
             the pool is closed"
        );
    })
    .await;
}

#[tokio::test]
async fn a_first_connection_that_fails_is_an_error_at_once() {
    within(LIMIT, async {
        let started = Instant::now();
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
        let err = PgLeases::connect(&url).await.unwrap_err().to_string();
        assert!(
            err.starts_with("postgres lease store: connecting: error connecting to server"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));

        let err = PgLeases::connect("postgres://[nonsense").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("postgres lease store: connecting: invalid connection string"),
            "{err}"
        );

        let url = PgServer::shared()
            .url("no-such-database")
            .replace("/postgres?", "/nowhere?");
        let err = PgLeases::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("database \"nowhere\" does not exist"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_store_says_what_it_is() {
    within(LIMIT, async {
        let server = PgServer::shared();
        let store = PgLeases::builder()
            .table("debug")
            .call_timeout(Duration::from_secs(2))
            .connect(&server.url("debug"))
            .await
            .unwrap();
        assert_eq!(store.call_timeout(), Duration::from_secs(2));
        assert_eq!(
            format!("{store:?}"),
            "PgLeases { table: \"debug\", call_timeout: 2s, clients: Reconnecting { connected: \
             true, last_error: None } }"
        );
        // The session is named: by the URL, else after the crate.
        assert_eq!(server.backends("debug").await.len(), 1);
        let default = PgLeases::connect(
            &server
                .url("ignored")
                .replace("?application_name=ignored", ""),
        )
        .await
        .unwrap();
        assert_eq!(default.table(), "\"async_tasks_leases\"");
        assert_eq!(server.backends("async-tasks-postgres").await.len(), 1);
    })
    .await;
}

#[test]
#[should_panic(expected = "the call timeout must be more than zero")]
fn a_zero_call_timeout_is_refused() {
    let _ = PgLeases::builder().call_timeout(Duration::ZERO);
}
