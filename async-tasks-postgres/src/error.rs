//! [`StoreError`]: what every failed call of the store returns, as a `BoxError`.
//!
//! A leaf: it imports nothing of this crate. Its message starts with `postgres lease store:`,
//! names the call and the lease, and carries the whole cause (tokio-postgres prints only
//! `db error` for a server's error, and keeps the server's message in its `source()`), so
//! that a log line that prints only `Display` still says what the server said; `source()`
//! still gives the driver's error, for a caller who wants its SQLSTATE.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// A failed call of the store.
pub(crate) struct StoreError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// `call` did not finish within `after`; `reconnecting` is the last error met while
    /// reconnecting, if the call was still waiting for a connection.
    pub(crate) fn timed_out(call: &str, after: Duration, reconnecting: Option<String>) -> Self {
        let mut message = format!("{call} timed out after {after:?}");
        if let Some(reconnecting) = reconnecting {
            message.push_str(&format!(" (reconnecting: {reconnecting})"));
        }
        StoreError::new(message, None)
    }

    /// `call` failed with the driver's error `err`.
    pub(crate) fn failed(call: &str, err: tokio_postgres::Error) -> Self {
        StoreError::new(format!("{call} failed: {}", chain(&err)), Some(err.into()))
    }

    /// `call` could not get a client from the user's source.
    pub(crate) fn no_client(call: &str, err: Box<dyn Error + Send + Sync + 'static>) -> Self {
        StoreError::new(
            format!("{call}: no client from the source: {}", chain(&*err)),
            Some(err),
        )
    }

    /// The first connection could not be opened.
    pub(crate) fn connect(err: tokio_postgres::Error) -> Self {
        StoreError::new(format!("connecting: {}", chain(&err)), Some(err.into()))
    }

    /// `name` is not a table name this store accepts.
    pub(crate) fn invalid_table(name: &str) -> Self {
        StoreError::new(
            format!(
                "invalid table name {name:?}: expected an identifier ([A-Za-z_][A-Za-z0-9_]*, at \
                 most 63 bytes) or `schema.table`"
            ),
            None,
        )
    }

    /// A value that does not fit the table (a ttl too long for a `bigint` of milliseconds, a
    /// fence out of range).
    pub(crate) fn out_of_range(call: &str, what: &str) -> Self {
        StoreError::new(format!("{call}: {what}"), None)
    }

    fn new(message: String, source: Option<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        StoreError { message, source }
    }
}

/// `err` and its `source()` chain, joined by `": "`, each link left out when the message so
/// far already says it.
pub(crate) fn chain(err: &(dyn Error + 'static)) -> String {
    let mut message = err.to_string();
    // Bounded: a chain that loops back on itself must not hang an error's construction.
    for link in std::iter::successors(err.source(), |&err| err.source()).take(16) {
        let text = link.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres lease store: {}", self.message)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|err| err as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_says_after_how_long_and_what_reconnecting_met() {
        let err = StoreError::timed_out(
            "renew of outbox#7 (web-1)",
            Duration::from_secs(5),
            Some("error connecting to server: Connection refused".into()),
        );
        assert_eq!(
            err.to_string(),
            "postgres lease store: renew of outbox#7 (web-1) timed out after 5s (reconnecting: \
             error connecting to server: Connection refused)"
        );
        assert!(err.source().is_none());
    }

    #[test]
    fn the_cause_is_in_the_message_once_and_in_the_source() {
        let io = std::io::Error::other("boom");
        let err = StoreError::no_client("release of a#1 (b)", Box::new(io));
        assert_eq!(
            err.to_string(),
            "postgres lease store: release of a#1 (b): no client from the source: boom"
        );
        assert_eq!(err.source().unwrap().to_string(), "boom");
    }
}
