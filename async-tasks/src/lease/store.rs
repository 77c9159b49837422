//! [`LeaseStore`]: the three atomic operations on a named lease that a singleton needs.

use std::sync::Arc;
use std::time::Duration;

use super::term::Term;
use crate::runner::BoxError;

/// Where leases are held: three atomic operations on a named lease, each judged by the
/// store's own clock.
///
/// A lease is free, or held by one *term*: a holder (a replica's id) and a fence. Taking a
/// lease starts a new term whose fence is strictly greater than that of every earlier term
/// of the same name, so fences order the terms of a lease even across releases and
/// expiries. A term holds the lease until it is released, or until its expiry (the time of
/// its last acquire or renew, plus the `ttl` given then) passes by the store's clock.
///
/// Object safe: a store is used as an `Arc<dyn LeaseStore>`, and `Arc<S>` is a store
/// wherever `S` is.
///
/// # Cancel safety
///
/// A store's futures may be dropped at any `.await` (a call that outlives its deadline is
/// given up). Each operation must be atomic in the store: dropped before it completes, it
/// either took effect or did not. A `try_acquire` that took effect but whose result was
/// never seen is released by whoever dropped it, when it can tell (see
/// `Tasks::run_singleton`), and otherwise expires.
#[async_trait::async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes the lease `name` for `holder` for `ttl`, if it is free or its term expired (by
    /// the store's clock), and returns the new term; `Ok(None)` while a term of any holder
    /// (this one's included) holds it.
    ///
    /// # Errors
    ///
    /// The store could not be reached or failed; nothing can be said about the lease.
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError>;

    /// Extends `term` to `ttl` from now (by the store's clock) if it still holds its lease:
    /// `Ok(true)`; `Ok(false)` when it does not (it expired, was released, or a later term
    /// took the lease).
    ///
    /// # Errors
    ///
    /// The store could not be reached or failed; the term may or may not still hold the
    /// lease.
    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError>;

    /// Frees the lease if `term` still holds it, so that another holder can take it at
    /// once; does nothing otherwise (it never frees a later term).
    ///
    /// # Errors
    ///
    /// The store could not be reached or failed; the term expires by itself.
    async fn release(&self, term: &Term) -> Result<(), BoxError>;
}

#[async_trait::async_trait]
impl<S: LeaseStore + ?Sized> LeaseStore for Arc<S> {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        (**self).try_acquire(name, holder, ttl).await
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        (**self).renew(term, ttl).await
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        (**self).release(term).await
    }
}
