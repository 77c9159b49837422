//! [`Reconnecting`]: the store's own connection, opened again, with backoff, whenever it
//! breaks.
//!
//! Invariants:
//! - the slot holds at most one live connection; every call that finds it closed (its
//!   connection task ended) or is told it broke removes it, and the next call opens another;
//! - a connection given up on (a call timed out on it) has its task aborted: its socket is
//!   closed at once and every call still waiting on it fails at once with "connection
//!   closed", rather than at its own deadline;
//! - attempts to connect are spaced by an exponential backoff with jitter (100 ms doubling up
//!   to 1 s, plus up to as much again), reset by a success, and the next attempt's earliest
//!   time is set *before* each attempt, so that a call dropped mid-attempt (its timeout
//!   passed) still leaves the spacing in place for the next caller;
//! - the slot's lock is held while connecting, so concurrent calls wait for one attempt
//!   rather than each opening a connection; each waits within its own deadline.
//!
//! A leaf but for [`error`](crate::error): the callers bound every method here in time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_util::task::AbortOnDropHandle;

use crate::error::chain;

/// Opens one connection: connects, spawns its connection task, sets up the session.
pub(crate) type Open = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Live, tokio_postgres::Error>> + Send>>
        + Send
        + Sync,
>;

/// One open connection: its client, and the task that drives its socket.
pub(crate) struct Live {
    client: Client,
    task: AbortOnDropHandle<()>,
    /// Given up on: its task is aborted, which closes the client only once the runtime has
    /// dropped the task, so this says it at once.
    given_up: AtomicBool,
}

impl Live {
    /// A connection whose socket `task` drives.
    pub(crate) fn new(client: Client, task: AbortOnDropHandle<()>) -> Live {
        Live {
            client,
            task,
            given_up: AtomicBool::new(false),
        }
    }

    /// The connection's client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Whether no call should use it any more.
    fn is_dead(&self) -> bool {
        // Relaxed: a flag read on its own; a call that misses it fails on the closed client.
        self.given_up.load(Ordering::Relaxed) || self.client.is_closed()
    }

    /// Closes its socket, and fails every call still waiting on it.
    fn give_up(&self) {
        // Relaxed: see `is_dead`.
        self.given_up.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// The store's own connection, reopened on demand.
pub(crate) struct Reconnecting {
    open: Open,
    slot: tokio::sync::Mutex<Slot>,
    /// The last error met while connecting, for a call that timed out waiting for a
    /// connection to say why. Apart from the slot, so that it can be read while another call
    /// holds the slot. `None` once connected.
    last_error: Mutex<Option<String>>,
}

struct Slot {
    live: Option<Arc<Live>>,
    backoff: ExponentialBackoff,
    /// No attempt to connect before this.
    not_before: Option<Instant>,
}

/// The spacing of attempts to connect: short enough that a restarted server is found again
/// well within a singleton's `retry_every` (2 s by default), long enough that a fleet of
/// replicas does not hammer a server that is starting up.
fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

impl Reconnecting {
    /// A connection that `open` opens, and `first`, already open, if any.
    pub(crate) fn new(open: Open, first: Option<Live>) -> Reconnecting {
        Reconnecting {
            open,
            slot: tokio::sync::Mutex::new(Slot {
                live: first.map(Arc::new),
                backoff: backoff(),
                not_before: None,
            }),
            last_error: Mutex::new(None),
        }
    }

    /// The live connection, opened first if there is none, or if it closed.
    ///
    /// Never gives up by itself: it tries again, spaced by the backoff, until it connects.
    /// The caller bounds it in time.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped mid-attempt, the attempt is dropped (its socket closed), and the
    /// spacing of the next attempt is already set.
    pub(crate) async fn live(&self) -> Arc<Live> {
        let mut slot = self.slot.lock().await;
        if let Some(live) = &slot.live {
            if !live.is_dead() {
                return Arc::clone(live);
            }
            tracing::debug!(target: "async_tasks_postgres", "connection closed: reconnecting");
            slot.live = None;
        }
        loop {
            if let Some(at) = slot.not_before {
                tokio::time::sleep_until(at).await;
            }
            let delay = slot.backoff.next().unwrap_or(Duration::from_secs(1));
            slot.not_before = Some(Instant::now() + delay);
            match (self.open)().await {
                Ok(live) => {
                    let live = Arc::new(live);
                    slot.live = Some(Arc::clone(&live));
                    slot.backoff = backoff();
                    slot.not_before = None;
                    *self.last_error() = None;
                    tracing::debug!(target: "async_tasks_postgres", "connected");
                    return live;
                }
                Err(err) => {
                    let err = chain(&err);
                    tracing::debug!(
                        target: "async_tasks_postgres",
                        error = %err,
                        retry_in = ?delay,
                        "could not connect"
                    );
                    *self.last_error() = Some(err);
                }
            }
        }
    }

    /// Gives up on `live` if it is still the slot's connection: `broken` says a call timed
    /// out on it or it failed in a way that leaves it unusable; a connection that closed by
    /// itself is given up on either way.
    pub(crate) fn failed(&self, live: &Arc<Live>, broken: bool) {
        if !broken && !live.client.is_closed() {
            return;
        }
        // Whether or not another call already replaced it in the slot.
        live.give_up();
        // `try_lock`: a call that holds the slot will find this connection dead if it is
        // still there.
        if let Ok(mut slot) = self.slot.try_lock() {
            if slot.live.as_ref().is_some_and(|it| Arc::ptr_eq(it, live)) {
                slot.live = None;
            }
        }
    }

    /// The last error met while connecting, since the last success.
    pub(crate) fn connect_error(&self) -> Option<String> {
        self.last_error().clone()
    }

    /// Whether a connection is open now, as far as this process knows.
    pub(crate) fn is_connected(&self) -> bool {
        self.slot
            .try_lock()
            .map(|slot| slot.live.as_ref().is_some_and(|it| !it.is_dead()))
            .unwrap_or(false)
    }

    fn last_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Poisoning: only a `String` is written under this lock; it is whole either way.
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnecting")
            .field("connected", &self.is_connected())
            .field("last_error", &self.connect_error())
            .finish()
    }
}

/// Spawns the task that drives `connection`'s socket; it ends when the connection closes,
/// or is aborted when its handle is dropped (with the store, or once given up on: a task
/// still waiting on a hung server would otherwise wait for ever).
pub(crate) fn drive<S, T>(connection: tokio_postgres::Connection<S, T>) -> AbortOnDropHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    AbortOnDropHandle::new(tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(
                target: "async_tasks_postgres",
                error = %chain(&err),
                "connection ended"
            );
        }
    }))
}
