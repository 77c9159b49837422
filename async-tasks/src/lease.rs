//! Fleet-wide singletons: a loop that runs on exactly one replica of a service at a time,
//! held by a lease.
//!
//! A service runs on several replicas, and every poller it starts runs on each of them. A
//! [`LeaseStore`] holds named leases with an expiry; the replica that holds a lease runs
//! the singleton's loop, and the others wait to take over. Each term of a lease carries a
//! *fence*, a number strictly greater than every earlier term's, so that a write made under
//! a term that was lost can be refused by whatever receives it ([`Term::current`]).

mod config;
mod lost;
mod memory;
mod store;
mod term;

pub use self::config::Lease;
pub use self::lost::{LeaseLost, LossReason};
pub use self::memory::MemoryLeases;
pub use self::store::LeaseStore;
pub use self::term::Term;
