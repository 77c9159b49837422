//! [`Clients`]: where a call of the store gets its client, and what it says back when the
//! client failed it.
//!
//! Either the store's own connection ([`Reconnecting`]), which a call can give up on, or the
//! user's [`ClientSource`](crate::ClientSource), whose clients are only borrowed: the store
//! drops them after the call and leaves their health to the source.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use async_tasks::BoxError;
use tokio_postgres::Client;

use crate::connection::{Live, Reconnecting};
use crate::source::DynSource;

/// Where calls get their clients.
pub(crate) enum Clients {
    /// The store's own connection.
    Own(Box<Reconnecting>),
    /// The user's source.
    Source(Box<dyn DynSource>),
}

/// A client, held for one call.
pub(crate) enum Checkout {
    Own(Arc<Live>),
    Source(Box<dyn Deref<Target = Client> + Send>),
}

/// What a call remembers of its client to report a failure after the client moved into the
/// statement's future.
pub(crate) struct Ticket(Option<Arc<Live>>);

impl Clients {
    /// A client for one call.
    ///
    /// # Errors
    ///
    /// The user's source had none (the store's own connection waits until it has one).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the caller bounds it with its deadline.
    pub(crate) async fn checkout(&self) -> Result<Checkout, BoxError> {
        match self {
            Clients::Own(own) => Ok(Checkout::Own(own.live().await)),
            Clients::Source(source) => Ok(Checkout::Source(source.client().await?)),
        }
    }

    /// The call that held `ticket`'s client failed: `broken` when it timed out, or when its
    /// error says the connection is gone.
    pub(crate) fn failed(&self, ticket: &Ticket, broken: bool) {
        if let (Clients::Own(own), Ticket(Some(live))) = (self, ticket) {
            own.failed(live, broken);
        }
    }

    /// Why the store's own connection could not be opened lately, if it could not.
    pub(crate) fn connect_error(&self) -> Option<String> {
        match self {
            Clients::Own(own) => own.connect_error(),
            Clients::Source(_) => None,
        }
    }
}

impl Checkout {
    /// What to remember of this client if the call fails.
    pub(crate) fn ticket(&self) -> Ticket {
        match self {
            Checkout::Own(live) => Ticket(Some(Arc::clone(live))),
            Checkout::Source(_) => Ticket(None),
        }
    }
}

impl Deref for Checkout {
    type Target = Client;

    fn deref(&self) -> &Client {
        match self {
            Checkout::Own(live) => live.client(),
            Checkout::Source(client) => client,
        }
    }
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clients::Own(own) => own.fmt(f),
            Clients::Source(_) => f.write_str("ClientSource"),
        }
    }
}
