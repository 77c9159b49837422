//! [`MemoryLeases`]: the in-process lease store, and its test hooks.
//!
//! Invariants, each kept by one critical section on the table's lock (never held across an
//! `.await`: no operation awaits anything), which reads the clock once it holds the lock, so
//! that no operation judges expiry by a time from before the one ahead of it:
//! - a slot's `last_fence` is the fence of the last term granted under its name, or 0; it
//!   only grows, and slots are never removed, so fences survive release, revoke and expiry;
//! - a slot's `held` term, if any, has that fence: a term is granted only by raising
//!   `last_fence` to its fence;
//! - a term holds its lease while it is the slot's `held` term and the clock is before its
//!   expiry.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::store::LeaseStore;
use super::term::Term;
use crate::loom::{Mutex, MutexGuard, lock};
use crate::runner::BoxError;

/// The in-process lease store: a table of leases in memory, shared by its clones.
///
/// The store for one process (one replica holds the lease among several [`Tasks`] of the
/// same process, or several replicas simulated in one process), and for tests: with
/// [`holder`](MemoryLeases::holder), [`revoke`](MemoryLeases::revoke) and
/// [`set_unavailable`](MemoryLeases::set_unavailable), a test of a singleton can see who
/// leads, take the lease away and simulate an outage, with no database. Leases held here
/// do not outlive the process, and other processes do not see them: across processes on
/// one host, use [`FileLeases`](super::FileLeases).
///
/// Expiry follows tokio's clock ([`tokio::time::Instant`]), so a test with the clock
/// paused (`#[tokio::test(start_paused = true)]`) moves expiries with
/// `tokio::time::advance` (tokio's `test-util` feature). A term holds its lease until its
/// expiry (its last acquire or renew, plus the `ttl` given then), and no longer at that
/// instant; a zero `ttl` grants a term that has already expired.
///
/// Fences start at 1 and grow by one with each term granted under a name. Each name used
/// keeps a small entry for the life of the store (the fence must outlive its terms).
///
/// [`Tasks`]: crate::Tasks
///
/// # Cancel safety
///
/// Each operation completes in its first poll, in one critical section, with nothing to
/// await: dropping its future either drops it unpolled (nothing happened) or after it
/// took effect in full.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_tasks::lease::{LeaseStore, MemoryLeases};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), async_tasks::BoxError> {
/// let leases = MemoryLeases::new();
/// let ttl = Duration::from_secs(15);
///
/// let web1 = leases.try_acquire("outbox", "web-1", ttl).await?.expect("free");
/// assert_eq!(leases.try_acquire("outbox", "web-2", ttl).await?, None);
///
/// // web-1 stops renewing: its term expires, and web-2 takes over with a higher fence.
/// tokio::time::advance(ttl).await;
/// let web2 = leases.try_acquire("outbox", "web-2", ttl).await?.expect("expired");
/// assert!(web2.fence() > web1.fence());
/// assert!(!leases.renew(&web1, ttl).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryLeases {
    table: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    slots: HashMap<String, Slot>,
    /// Set by [`MemoryLeases::set_unavailable`]: every operation fails.
    unavailable: bool,
}

#[derive(Default)]
struct Slot {
    /// The fence of the last term granted, or 0.
    last_fence: u64,
    held: Option<Held>,
}

struct Held {
    term: Term,
    /// `None`: so far ahead that tokio's clock cannot say it (it never comes).
    expires: Option<Instant>,
}

impl Held {
    fn is_live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

impl Slot {
    /// The term that holds the lease at `now`, if any.
    fn live(&self, now: Instant) -> Option<&Held> {
        self.held.as_ref().filter(|held| held.is_live(now))
    }

    /// Whether `term` holds the lease at `now`: the very term (fence and holder).
    fn is_held_by(&self, term: &Term, now: Instant) -> bool {
        self.live(now).is_some_and(|held| held.term == *term)
    }
}

impl MemoryLeases {
    /// An empty store: every lease free, no fence given yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_tasks::lease::MemoryLeases;
    ///
    /// let leases = MemoryLeases::new();
    /// assert_eq!(leases.holder("outbox"), None);
    /// ```
    #[must_use]
    pub fn new() -> MemoryLeases {
        MemoryLeases {
            table: Arc::new(Mutex::new(Table::default())),
        }
    }

    /// The term that holds the lease `name` now, by tokio's clock; `None` if it is free or
    /// its term expired. A test hook: it answers even while the store is
    /// [unavailable](MemoryLeases::set_unavailable).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{LeaseStore, MemoryLeases};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), async_tasks::BoxError> {
    /// let leases = MemoryLeases::new();
    /// let term = leases.try_acquire("outbox", "web-1", Duration::from_secs(15)).await?;
    /// assert_eq!(leases.holder("outbox"), term);
    /// assert_eq!(leases.holder("outbox").unwrap().holder(), "web-1");
    ///
    /// tokio::time::advance(Duration::from_secs(15)).await;
    /// assert_eq!(leases.holder("outbox"), None); // expired
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn holder(&self, name: &str) -> Option<Term> {
        let table = lock(&self.table);
        let now = Instant::now();
        let slot = table.slots.get(name)?;
        slot.live(now).map(|held| held.term.clone())
    }

    /// Takes the lease `name` away from whoever holds it, as another replica taking it
    /// over would: it is free at once, its holder's next [`renew`](LeaseStore::renew)
    /// returns `Ok(false)`, and the next term's fence is higher. Returns the term it took
    /// the lease from (`None` if it was free or expired). A test hook: it works even while
    /// the store is [unavailable](MemoryLeases::set_unavailable).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{LeaseStore, MemoryLeases};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), async_tasks::BoxError> {
    /// let leases = MemoryLeases::new();
    /// let ttl = Duration::from_secs(15);
    /// let first = leases.try_acquire("outbox", "web-1", ttl).await?.unwrap();
    ///
    /// assert_eq!(leases.revoke("outbox"), Some(first.clone()));
    /// assert!(!leases.renew(&first, ttl).await?);
    /// let next = leases.try_acquire("outbox", "web-2", ttl).await?.unwrap();
    /// assert!(next.fence() > first.fence());
    /// # Ok(())
    /// # }
    /// ```
    pub fn revoke(&self, name: &str) -> Option<Term> {
        let mut table = lock(&self.table);
        let now = Instant::now();
        let slot = table.slots.get_mut(name)?;
        let held = slot.held.take()?;
        held.is_live(now).then_some(held.term)
    }

    /// While `unavailable`, every operation of the store ([`try_acquire`], [`renew`],
    /// [`release`]) fails with an error and changes nothing, as during an outage of a real
    /// store; the leases' expiries go on meanwhile. `set_unavailable(false)` ends it.
    ///
    /// [`try_acquire`]: LeaseStore::try_acquire
    /// [`renew`]: LeaseStore::renew
    /// [`release`]: LeaseStore::release
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_tasks::lease::{LeaseStore, MemoryLeases};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let leases = MemoryLeases::new();
    /// let ttl = Duration::from_secs(15);
    /// leases.set_unavailable(true);
    /// let err = leases.try_acquire("outbox", "web-1", ttl).await.unwrap_err();
    /// assert!(err.to_string().contains("unavailable"), "{err}");
    ///
    /// leases.set_unavailable(false);
    /// assert!(leases.try_acquire("outbox", "web-1", ttl).await.unwrap().is_some());
    /// # }
    /// ```
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.table).unavailable = unavailable;
    }

    /// The table, or the error every operation returns while the store is unavailable.
    fn available(&self) -> Result<MutexGuard<'_, Table>, BoxError> {
        let table = lock(&self.table);
        if table.unavailable {
            return Err(
                "the lease store is unavailable (`MemoryLeases::set_unavailable(true)`)".into(),
            );
        }
        Ok(table)
    }
}

impl Default for MemoryLeases {
    /// [`MemoryLeases::new`].
    fn default() -> MemoryLeases {
        MemoryLeases::new()
    }
}

#[async_trait::async_trait]
impl LeaseStore for MemoryLeases {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        let mut table = self.available()?;
        let now = Instant::now();
        // The name is copied only the first time it is asked for, not on every campaign.
        if !table.slots.contains_key(name) {
            table.slots.insert(name.to_owned(), Slot::default());
        }
        let slot = table
            .slots
            .get_mut(name)
            .expect("inserted above if it was missing");
        if slot.live(now).is_some() {
            return Ok(None);
        }
        let fence = slot
            .last_fence
            .checked_add(1)
            .ok_or_else(|| format!("lease {name:?}: no fence left to give"))?;
        let term = Term::new(name, holder, fence);
        slot.last_fence = fence;
        slot.held = Some(Held {
            term: term.clone(),
            expires: now.checked_add(ttl),
        });
        Ok(Some(term))
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        let mut table = self.available()?;
        let now = Instant::now();
        let Some(slot) = table.slots.get_mut(term.name()) else {
            return Ok(false);
        };
        if !slot.is_held_by(term, now) {
            return Ok(false);
        }
        if let Some(held) = &mut slot.held {
            held.expires = now.checked_add(ttl);
        }
        Ok(true)
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        let mut table = self.available()?;
        if let Some(slot) = table.slots.get_mut(term.name())
            && slot.held.as_ref().is_some_and(|held| held.term == *term)
        {
            // Expired or not, nothing later holds it: freeing it changes nothing for
            // anyone else.
            slot.held = None;
        }
        Ok(())
    }
}

impl fmt::Debug for MemoryLeases {
    /// The live terms by name (`{"outbox": outbox#3 (web-1)}`), and whether the store is
    /// unavailable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = lock(&self.table);
        let now = Instant::now();
        let held: BTreeMap<&str, Shown<'_>> = table
            .slots
            .iter()
            .filter_map(|(name, slot)| Some((name.as_str(), Shown(&slot.live(now)?.term))))
            .collect();
        f.debug_struct("MemoryLeases")
            .field("held", &held)
            .field("unavailable", &table.unavailable)
            .finish()
    }
}

/// A term, debugged as it displays: `outbox#3 (web-1)`.
struct Shown<'a>(&'a Term);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

#[cfg(all(test, not(async_tasks_loom)))]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(15);

    #[tokio::test(start_paused = true)]
    async fn a_term_holds_until_its_expiry_and_not_at_it() {
        let leases = MemoryLeases::new();
        let term = leases.try_acquire("a", "h", TTL).await.unwrap().unwrap();
        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        assert_eq!(leases.holder("a"), Some(term.clone()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(leases.holder("a"), None);
        assert!(!leases.renew(&term, TTL).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_grants_a_term_already_expired_and_a_huge_one_never_expires() {
        let leases = MemoryLeases::new();
        let zero = leases.try_acquire("a", "h", Duration::ZERO).await.unwrap();
        assert!(zero.is_some());
        assert_eq!(leases.holder("a"), None);
        let forever = leases.try_acquire("a", "h", Duration::MAX).await.unwrap();
        tokio::time::advance(Duration::from_secs(100 * 365 * 24 * 3600)).await;
        assert_eq!(leases.holder("a"), forever);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_fence_is_refused_rather_than_wrapped() {
        let leases = MemoryLeases::new();
        lock(&leases.table).slots.insert(
            "a".to_owned(),
            Slot {
                last_fence: u64::MAX,
                held: None,
            },
        );
        let err = leases.try_acquire("a", "h", TTL).await.unwrap_err();
        assert_eq!(err.to_string(), "lease \"a\": no fence left to give");
    }

    #[tokio::test(start_paused = true)]
    async fn debug_lists_the_live_terms_by_name() {
        let leases = MemoryLeases::new();
        leases.try_acquire("b", "web-2", TTL).await.unwrap();
        leases.try_acquire("a", "web-1", TTL).await.unwrap();
        leases
            .try_acquire("gone", "web-1", Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            format!("{leases:?}"),
            "MemoryLeases { held: {\"a\": a#1 (web-1), \"b\": b#1 (web-2)}, unavailable: false }"
        );
    }
}

/// Model checks, run with
/// `RUSTFLAGS="--cfg async_tasks_loom" cargo test -p async-tasks --lib --release -- loom`.
#[cfg(all(test, async_tasks_loom))]
mod loom_models {
    use super::*;

    #[test]
    fn loom_two_racing_acquires_grant_one_term() {
        loom::model(|| {
            let leases = MemoryLeases::new();
            let other = {
                let leases = leases.clone();
                loom::thread::spawn(move || {
                    loom::future::block_on(leases.try_acquire("a", "there", TTL)).unwrap()
                })
            };
            let here = loom::future::block_on(leases.try_acquire("a", "here", TTL)).unwrap();
            let there = other.join().unwrap();
            let winner = match (here, there) {
                (Some(term), None) | (None, Some(term)) => term,
                both => panic!("one winner expected, got {both:?}"),
            };
            assert_eq!(winner.fence(), 1);
            assert_eq!(leases.holder("a"), Some(winner));
        });
    }

    #[test]
    fn loom_a_release_racing_an_acquire_never_frees_the_later_term() {
        loom::model(|| {
            let leases = MemoryLeases::new();
            let first = loom::future::block_on(leases.try_acquire("a", "one", TTL))
                .unwrap()
                .unwrap();
            leases.revoke("a");
            let releaser = {
                let leases = leases.clone();
                loom::thread::spawn(move || loom::future::block_on(leases.release(&first)))
            };
            let second = loom::future::block_on(leases.try_acquire("a", "two", TTL))
                .unwrap()
                .unwrap();
            releaser.join().unwrap().unwrap();
            assert_eq!(leases.holder("a"), Some(second));
        });
    }

    const TTL: Duration = Duration::from_secs(15);
}
