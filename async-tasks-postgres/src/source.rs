//! [`ClientSource`]: a client the user already has (a pool, a shared client), lent to the
//! store for one call at a time.
//!
//! A leaf: it imports nothing of this crate.

use std::ops::Deref;
use std::sync::Arc;

use async_tasks::BoxError;
use tokio_postgres::Client;

/// Where a [`PgLeases`](crate::PgLeases) built with
/// [`from_source`](crate::PgLeases::from_source) gets a client for each call: a connection
/// pool, or one client shared with the rest of the program.
///
/// The store asks for a client at the start of each call, runs one statement on it (with
/// the call's timeout around both) and drops it at the end, so a pool gets its connection
/// back after every call. The store never reconnects such a client and never sets its
/// session's settings: that is the source's job. Give its connections a server-side
/// `statement_timeout`, so that the server gives up on a statement that the store has
/// already given up on (with tokio-postgres: `config.options("-c statement_timeout=5000")`),
/// and let the pool retire connections that are closed (`Client::is_closed`).
///
/// Implemented for `Arc<tokio_postgres::Client>` (each call uses that client), which is what
/// [`PgLeases::from_client`](crate::PgLeases::from_client) wraps.
///
/// # Examples
///
/// A source over a pool, sketched here with a `Vec` of idle clients: any pool whose guard
/// derefs to a `tokio_postgres::Client` (directly or through a newtype) fits the same way.
///
/// ```
/// use std::ops::Deref;
/// use std::sync::{Arc, Mutex};
///
/// use async_tasks::BoxError;
/// use async_tasks_postgres::ClientSource;
/// use tokio_postgres::Client;
///
/// #[derive(Default)]
/// struct Pool {
///     idle: Arc<Mutex<Vec<Client>>>,
/// }
///
/// /// A client out of the pool, given back when dropped.
/// struct Pooled {
///     client: Option<Client>,
///     idle: Arc<Mutex<Vec<Client>>>,
/// }
///
/// impl Deref for Pooled {
///     type Target = Client;
///     fn deref(&self) -> &Client {
///         self.client.as_ref().expect("taken only on drop")
///     }
/// }
///
/// impl Drop for Pooled {
///     fn drop(&mut self) {
///         let client = self.client.take().expect("dropped once");
///         if !client.is_closed() {
///             self.idle.lock().unwrap().push(client);
///         }
///     }
/// }
///
/// #[async_trait::async_trait]
/// impl ClientSource for Pool {
///     type Client = Pooled;
///
///     async fn client(&self) -> Result<Pooled, BoxError> {
///         let client = self.idle.lock().unwrap().pop().ok_or("the pool is empty")?;
///         Ok(Pooled { client: Some(client), idle: self.idle.clone() })
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait ClientSource: Send + Sync + 'static {
    /// What a call holds while its statement runs: a pool's guard, an `Arc<Client>`.
    type Client: Deref<Target = Client> + Send + 'static;

    /// A client for one call.
    ///
    /// # Errors
    ///
    /// No client can be had; the call fails with this error as its cause.
    ///
    /// # Cancel safety
    ///
    /// The future is dropped when the call's timeout passes first: it must then give up
    /// cleanly (a pool's `get` does).
    async fn client(&self) -> Result<Self::Client, BoxError>;
}

#[async_trait::async_trait]
impl ClientSource for Arc<Client> {
    type Client = Arc<Client>;

    async fn client(&self) -> Result<Arc<Client>, BoxError> {
        Ok(Arc::clone(self))
    }
}

/// A [`ClientSource`] with its client type erased, for the store to keep behind a `Box`.
#[async_trait::async_trait]
pub(crate) trait DynSource: Send + Sync + 'static {
    /// A client for one call, boxed.
    async fn client(&self) -> Result<Box<dyn Deref<Target = Client> + Send>, BoxError>;
}

#[async_trait::async_trait]
impl<S: ClientSource> DynSource for S {
    async fn client(&self) -> Result<Box<dyn Deref<Target = Client> + Send>, BoxError> {
        let client = ClientSource::client(self).await?;
        Ok(Box::new(client))
    }
}
