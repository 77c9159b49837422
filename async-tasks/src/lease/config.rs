//! [`Lease`]: which lease a singleton campaigns for, in which store, under which holder id,
//! and with which timings.
//!
//! Plain configuration: nothing here talks to the store. The holder id a process gets by
//! default is made once per process (`default_holder`), so every `Lease` of the process
//! campaigns under the same id unless told otherwise.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::store::LeaseStore;

/// The lease a singleton holds while it runs: its name, the store that keeps it, the id
/// this replica holds it under, and three timings (client-go's leader election's).
///
/// - [`ttl`](Lease::ttl) (default 15 s): how long a term holds the lease after each
///   acquire or renew, by the store's clock; after a replica dies, another one takes over
///   within `ttl + retry_every`.
/// - [`renew_deadline`](Lease::renew_deadline) (default 10 s): the leader gives up, and
///   cancels its runs, when no renew has succeeded for this long since the start of the
///   last one that did. The difference `ttl - renew_deadline` is the margin within which
///   the runs must stop before the store may give the lease to someone else.
/// - [`retry_every`](Lease::retry_every) (default 2 s): how often a follower tries to take
///   the lease, and how often the leader renews it.
///
/// They must keep `ttl > renew_deadline > retry_every > 0`; a singleton started with a
/// lease that does not panics with a message naming the rule and the values.
///
/// The holder id defaults to one made once per process from the host name, the process id
/// and a random part, so that two processes never share one (two replicas given the same
/// id could both believe they hold the lease: a store cannot tell them apart). Give your
/// own with [`holder`](Lease::holder) to see a pod's or a host's name in the store.
///
/// Cheap to clone; clones share the store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::lease::{Lease, MemoryLeases};
///
/// let leases = MemoryLeases::new();
/// let lease = Lease::new("outbox", leases.clone())
///     .holder("web-1")
///     .ttl(Duration::from_secs(30))
///     .renew_deadline(Duration::from_secs(20))
///     .retry_every(Duration::from_secs(5));
/// assert_eq!(lease.name(), "outbox");
/// ```
#[derive(Clone)]
pub struct Lease {
    name: String,
    store: Arc<dyn LeaseStore>,
    /// The store's type, for `Debug`: the store itself need not be `Debug`.
    store_type: &'static str,
    holder: String,
    timings: Timings,
}

/// A lease's three timings, for the singleton's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timings {
    /// How long a term holds the lease after each acquire or renew, by the store's clock.
    pub(crate) ttl: Duration,
    /// How long the leader goes on without a successful renew before it gives up.
    pub(crate) renew_deadline: Duration,
    /// The pause between two campaigns, and between two renews.
    pub(crate) retry_every: Duration,
}

impl Timings {
    /// client-go's defaults.
    const DEFAULT: Timings = Timings {
        ttl: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_every: Duration::from_secs(2),
    };

    /// How long the runs of a lost term have to stop after their context is canceled:
    /// `ttl - renew_deadline`, the time between the leader giving up and the store's
    /// expiry of its last renewed term at the earliest (zero if the timings are invalid).
    pub(crate) fn grace(&self) -> Duration {
        self.ttl.saturating_sub(self.renew_deadline)
    }
}

impl Lease {
    /// The lease `name` in `store`, with the default holder id and timings.
    ///
    /// `store` is any [`LeaseStore`]: a [`MemoryLeases`](super::MemoryLeases) or
    /// [`FileLeases`](super::FileLeases) (whose clones share one table), or an
    /// `Arc<dyn LeaseStore>`, which is kept as it is rather than wrapped again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use async_tasks::lease::{Lease, LeaseStore, MemoryLeases};
    ///
    /// let store: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::new());
    /// let outbox = Lease::new("outbox", Arc::clone(&store));
    /// let reports = Lease::new("reports", store);
    /// assert_eq!((outbox.name(), reports.name()), ("outbox", "reports"));
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, store: impl LeaseStore) -> Lease {
        Lease {
            name: name.into(),
            store_type: std::any::type_name_of_val(&store),
            store: share(store),
            holder: default_holder().to_owned(),
            timings: Timings::DEFAULT,
        }
    }

    /// This replica's holder id, instead of the one made for the process: it must be
    /// unique among the replicas that campaign for the lease (a pod's name, a host's name
    /// with the service's).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::lease::{Lease, MemoryLeases};
    ///
    /// let pod = std::env::var("POD_NAME").unwrap_or_else(|_| "web-1".to_owned());
    /// let lease = Lease::new("outbox", MemoryLeases::new()).holder(pod);
    /// # let _ = lease;
    /// ```
    #[must_use]
    pub fn holder(mut self, id: impl Into<String>) -> Lease {
        self.holder = id.into();
        self
    }

    /// How long a term holds the lease after each acquire or renew (default 15 s); must
    /// be longer than [`renew_deadline`](Lease::renew_deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{Lease, MemoryLeases};
    ///
    /// // A dead leader is replaced within about 4.5 s; the leader renews every 500 ms and
    /// // gives up after 3 s without a successful renew.
    /// let lease = Lease::new("outbox", MemoryLeases::new())
    ///     .ttl(Duration::from_secs(4))
    ///     .renew_deadline(Duration::from_secs(3))
    ///     .retry_every(Duration::from_millis(500));
    /// # let _ = lease;
    /// ```
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Lease {
        self.timings.ttl = ttl;
        self
    }

    /// How long the leader goes on without a successful renew, counted from the start of
    /// the last one that succeeded, before it gives the lease up and cancels its runs
    /// (default 10 s); must be shorter than [`ttl`](Lease::ttl) and longer than
    /// [`retry_every`](Lease::retry_every).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{Lease, MemoryLeases};
    ///
    /// // Leaves the runs 10 s (ttl - renew_deadline) to stop once the lease is lost.
    /// let lease = Lease::new("outbox", MemoryLeases::new())
    ///     .ttl(Duration::from_secs(20))
    ///     .renew_deadline(Duration::from_secs(10));
    /// # let _ = lease;
    /// ```
    #[must_use]
    pub fn renew_deadline(mut self, renew_deadline: Duration) -> Lease {
        self.timings.renew_deadline = renew_deadline;
        self
    }

    /// The pause between two tries to take the lease, and between two renews (default
    /// 2 s); must be shorter than [`renew_deadline`](Lease::renew_deadline) and not zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{Lease, MemoryLeases};
    ///
    /// let lease = Lease::new("outbox", MemoryLeases::new()).retry_every(Duration::from_secs(1));
    /// # let _ = lease;
    /// ```
    #[must_use]
    pub fn retry_every(mut self, retry_every: Duration) -> Lease {
        self.timings.retry_every = retry_every;
        self
    }

    /// The lease's name, as the store knows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::lease::{Lease, MemoryLeases};
    ///
    /// assert_eq!(Lease::new("outbox", MemoryLeases::new()).name(), "outbox");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store that holds the lease.
    pub(crate) fn store(&self) -> &Arc<dyn LeaseStore> {
        &self.store
    }

    /// The id this replica holds the lease under.
    pub(crate) fn holder_id(&self) -> &str {
        &self.holder
    }

    /// The lease's timings (not checked: see [`check`](Lease::check)).
    pub(crate) fn timings(&self) -> Timings {
        self.timings
    }

    /// Whether the timings keep `ttl > renew_deadline > retry_every > 0`; if not, a
    /// message that names the lease, the rule and the values, for a panic at the caller.
    pub(crate) fn check(&self) -> Result<(), String> {
        let Timings {
            ttl,
            renew_deadline,
            retry_every,
        } = self.timings;
        if ttl > renew_deadline && renew_deadline > retry_every && retry_every > Duration::ZERO {
            return Ok(());
        }
        Err(format!(
            "lease `{}`: its timings must keep ttl > renew_deadline > retry_every > 0 \
             (got ttl {ttl:?}, renew_deadline {renew_deadline:?}, retry_every {retry_every:?})",
            self.name
        ))
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .field("ttl", &self.timings.ttl)
            .field("renew_deadline", &self.timings.renew_deadline)
            .field("retry_every", &self.timings.retry_every)
            .field(
                "store",
                &format_args!("{}", short_type_name(self.store_type)),
            )
            .finish()
    }
}

/// `store` as an `Arc<dyn LeaseStore>`: the same `Arc` when it is one already, so that a
/// shared store is not wrapped twice (each call through the blanket `impl LeaseStore for
/// Arc<S>` would box one more future).
fn share<S: LeaseStore>(store: S) -> Arc<dyn LeaseStore> {
    let mut store = Some(store);
    let any: &mut dyn Any = &mut store;
    if let Some(shared) = any.downcast_mut::<Option<Arc<dyn LeaseStore>>>()
        && let Some(shared) = shared.take()
    {
        return shared;
    }
    match store {
        Some(store) => Arc::new(store),
        None => unreachable!("the store is only taken when it is an `Arc<dyn LeaseStore>`"),
    }
}

/// `alloc::sync::Arc<dyn async_tasks::lease::store::LeaseStore>` as `Arc<dyn LeaseStore>`:
/// every path reduced to its last segment.
fn short_type_name(full: &str) -> String {
    let mut short = String::with_capacity(full.len());
    // Where the path being read started in `short`: a `::` cuts `short` back to it.
    let mut path_start = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            short.truncate(path_start);
            continue;
        }
        short.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            path_start = short.len();
        }
    }
    short
}

/// The holder id of this process: its host's name, its id and a random part, made once.
///
/// The random part tells apart two processes that get the same id one after the other
/// (a restarted container is often pid 1 on the same host name). It comes from std's
/// randomly seeded hasher, fed the time: no dependency for a few random bits.
pub(crate) fn default_holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        format!(
            "{}-{}-{:08x}",
            host_name(),
            std::process::id(),
            random_u32()
        )
    })
}

/// The host's name, from the environment (`HOSTNAME`, which Kubernetes sets to the pod's
/// name; `COMPUTERNAME` on Windows) or the kernel; `localhost` when nothing says.
fn host_name() -> String {
    let from_env = ["HOSTNAME", "COMPUTERNAME"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(|name| name.to_string_lossy().trim().to_owned());
    let from_files = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned());
    from_env
        .chain(from_files)
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// 32 random bits: the time, hashed by a `RandomState` (whose keys std seeds from the OS's
/// randomness once per thread).
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};

    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    let hash = hasher.finish();
    // Fold the 64 bits into 32: truncation is what is wanted.
    (hash ^ (hash >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::MemoryLeases;

    #[test]
    fn defaults_are_client_gos_and_valid() {
        let lease = Lease::new("outbox", MemoryLeases::new());
        assert_eq!(lease.timings(), Timings::DEFAULT);
        assert_eq!(lease.timings().ttl, Duration::from_secs(15));
        assert_eq!(lease.timings().renew_deadline, Duration::from_secs(10));
        assert_eq!(lease.timings().retry_every, Duration::from_secs(2));
        assert_eq!(lease.timings().grace(), Duration::from_secs(5));
        assert_eq!(lease.check(), Ok(()));
    }

    #[test]
    fn the_builder_sets_each_field() {
        let lease = Lease::new("outbox", MemoryLeases::new())
            .holder("web-1")
            .ttl(Duration::from_secs(30))
            .renew_deadline(Duration::from_secs(20))
            .retry_every(Duration::from_secs(5));
        assert_eq!(lease.name(), "outbox");
        assert_eq!(lease.holder_id(), "web-1");
        assert_eq!(
            lease.timings(),
            Timings {
                ttl: Duration::from_secs(30),
                renew_deadline: Duration::from_secs(20),
                retry_every: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn check_names_the_rule_and_the_values() {
        let lease = Lease::new("outbox", MemoryLeases::new()).ttl(Duration::from_secs(5));
        assert_eq!(
            lease.check().unwrap_err(),
            "lease `outbox`: its timings must keep ttl > renew_deadline > retry_every > 0 \
             (got ttl 5s, renew_deadline 10s, retry_every 2s)"
        );
    }

    #[test]
    fn check_refuses_every_broken_order_and_equality() {
        let secs = Duration::from_secs;
        let cases = [
            (secs(10), secs(10), secs(2)),        // ttl = renew_deadline
            (secs(15), secs(2), secs(2)),         // renew_deadline = retry_every
            (secs(15), secs(10), secs(11)),       // retry_every > renew_deadline
            (secs(15), secs(10), Duration::ZERO), // retry_every = 0
            (Duration::ZERO, Duration::ZERO, Duration::ZERO), // all zero
        ];
        for (ttl, renew_deadline, retry_every) in cases {
            let lease = Lease::new("x", MemoryLeases::new())
                .ttl(ttl)
                .renew_deadline(renew_deadline)
                .retry_every(retry_every);
            assert!(lease.check().is_err(), "{lease:?}");
        }
        let tight = Lease::new("x", MemoryLeases::new())
            .ttl(Duration::from_millis(3))
            .renew_deadline(Duration::from_millis(2))
            .retry_every(Duration::from_millis(1));
        assert_eq!(tight.check(), Ok(()));
    }

    #[test]
    fn the_default_holder_is_made_once_per_process_and_names_the_process() {
        let a = Lease::new("a", MemoryLeases::new());
        let b = Lease::new("b", MemoryLeases::new());
        assert_eq!(a.holder_id(), b.holder_id());
        let pid = format!("-{}-", std::process::id());
        assert!(a.holder_id().contains(&pid), "{}", a.holder_id());
        let random = a.holder_id().rsplit('-').next().unwrap();
        assert_eq!(random.len(), 8, "{}", a.holder_id());
        assert!(random.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn random_parts_differ_between_calls() {
        // Two processes started in the same instant must not share a holder id: the
        // random part comes from a freshly keyed hasher each time.
        let parts: std::collections::HashSet<u32> = (0..64).map(|_| random_u32()).collect();
        assert!(parts.len() > 60, "{parts:?}");
    }

    #[test]
    fn a_shared_store_is_kept_as_it_is_and_clones_share_it() {
        let shared: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::new());
        let lease = Lease::new("outbox", Arc::clone(&shared));
        assert!(Arc::ptr_eq(lease.store(), &shared));
        assert!(Arc::ptr_eq(lease.clone().store(), &shared));
    }

    #[test]
    fn debug_shows_the_name_holder_timings_and_the_stores_type() {
        let lease = Lease::new("outbox", MemoryLeases::new()).holder("web-1");
        assert_eq!(
            format!("{lease:?}"),
            "Lease { name: \"outbox\", holder: \"web-1\", ttl: 15s, renew_deadline: 10s, \
             retry_every: 2s, store: MemoryLeases }"
        );
        let shared: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::new());
        let lease = Lease::new("outbox", shared);
        assert!(
            format!("{lease:?}").ends_with("store: Arc<dyn LeaseStore> }"),
            "{lease:?}"
        );
    }

    #[test]
    fn short_type_names_keep_generics_and_references() {
        assert_eq!(short_type_name("u32"), "u32");
        assert_eq!(
            short_type_name("alloc::sync::Arc<dyn a::b::Store + core::marker::Send>"),
            "Arc<dyn Store + Send>"
        );
        assert_eq!(
            short_type_name("&std::collections::HashMap<alloc::string::String, u8>"),
            "&HashMap<String, u8>"
        );
    }
}
