//! Fleet-wide singletons: a loop that runs on exactly one replica of a service at a time,
//! held by a lease.
//!
//! A service runs on several replicas, and every poller it starts runs on each of them. A
//! [`LeaseStore`] holds named leases with an expiry; the replica that holds a lease runs
//! the singleton's loop, and the others wait to take over. Each term of a lease carries a
//! *fence*, a number strictly greater than every earlier term's, so that a write made under
//! a term that was lost can be refused by whatever receives it ([`Term::current`]).
//!
//! - [`Lease`]: which lease, in which store, under which holder id, with which timings.
//! - [`LeaseStore`] and [`Term`]: the three atomic operations a store provides, and what
//!   a granted term is.
//! - Stores: [`MemoryLeases`] for one process and for tests (with hooks to see the
//!   holder, take the lease away and simulate an outage), [`FileLeases`] for the
//!   processes of one host. A store for a fleet (a database) implements [`LeaseStore`].
//! - [`LeaseLost`]: the cause a singleton's runs are canceled with when the lease is lost,
//!   and why ([`LossReason`]).
//!
//! # What a lease guarantees, and what it does not
//!
//! It guarantees, by the store's clock:
//!
//! - at most one term holds a lease at any instant: a lease is granted only while it is
//!   free or its term has expired, and renewed only by the term that holds it;
//! - fences only grow: every term's fence is greater than every earlier term's of the same
//!   name, across releases, expiries and revokes;
//! - a replica that stops renewing (it died, hung, or lost the store) loses the lease at
//!   its term's expiry, and another one can take it then.
//!
//! It does not guarantee that no two replicas ever act at the same instant by the real
//! world's clock. A holder learns that its term ended only when a renew says so, or when
//! no renew has succeeded for its `renew_deadline`; a singleton then cancels its runs and
//! gives them `ttl - renew_deadline` to stop before the store may grant the lease again.
//! That margin holds while the holder's monotonic clock and the store's clock run at
//! about the same rate, and while the holder's process runs. A process paused for longer
//! than the margin (a stop-the-world pause, a suspended VM, `SIGSTOP`), or a store whose
//! clock steps forward ([`FileLeases`] reads the wall clock), can leave a run acting under
//! a term that has already expired in the store, while a new holder acts too.
//!
//! So a lease keeps duplicated work rare and short, not impossible. Where a duplicate
//! write would do harm, fence it: pass the run's [`Term::current`] fence along with the
//! write, and have the receiving end (a database row, a queue, another service) keep
//! the highest fence it has seen and refuse anything older.

mod config;
mod file;
pub(crate) mod leader;
mod lost;
mod memory;
mod store;
mod term;

pub use self::config::Lease;
pub use self::file::FileLeases;
pub use self::lost::{LeaseLost, LossReason};
pub use self::memory::MemoryLeases;
pub use self::store::LeaseStore;
pub use self::term::Term;
