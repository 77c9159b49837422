//! Synchronisation that knows about [`Context`](crate::context::Context)s: a lock that
//! gives up when the context ends ([`MutexWithContext`]), and one-time initialisation that
//! is retried after a failure ([`RetryableOnce`], and [`RetryableOnceCell`] for an async
//! init, single-flight and traced).

mod mutex;
mod once;
mod once_cell;

pub use self::mutex::{MutexWithContext, MutexWithContextGuard};
pub use self::once::RetryableOnce;
pub use self::once_cell::RetryableOnceCell;
