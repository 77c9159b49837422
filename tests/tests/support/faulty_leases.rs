//! [`FaultyLeases`]: a `LeaseStore` over `MemoryLeases` that delays, fails or hangs any of
//! its three calls, for each replica (holder id) apart, switched while the replicas run; it
//! logs every call, and keeps for every term when the store held it, so that a test can
//! compare what the bodies did with what the store allowed.
//!
//! Expiry is `MemoryLeases`': tokio's clock, so everything here runs on the paused clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_tasks::BoxError;
use async_tasks::lease::{LeaseStore, MemoryLeases, Term};
use tokio::sync::watch;
use tokio::time::Instant;

/// A number from one process-wide sequence: what happened first, when several things
/// happen at the same instant of a paused clock.
pub fn seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // Only the order matters, and each number is taken once: any ordering of the
    // read-modify-write gives distinct, increasing numbers per thread of the test.
    SEQ.fetch_add(1, Ordering::SeqCst) + 1
}

/// One of a store's three calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    Acquire,
    Renew,
    Release,
}

impl Call {
    pub const ALL: [Call; 3] = [Call::Acquire, Call::Renew, Call::Release];
}

/// What the calls of one kind, from one replica, do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Reach the store at once.
    #[default]
    Pass,
    /// Fail at once, changing nothing.
    Fail,
    /// Wait this long, then reach the store (the request is slow on its way there).
    Delay(Duration),
    /// Never answer while the fault stays; once it changes, do as the new one says (a
    /// partition that heals: the request arrives late).
    Hang,
}

/// What a call answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Granted(u64),
    Refused,
    Renewed(bool),
    Released,
    Failed,
    /// The caller gave the call up (dropped it) before it answered.
    Dropped,
}

/// One call, as the store saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub holder: String,
    pub call: Call,
    /// The term's fence, for a renew or a release.
    pub fence: Option<u64>,
    pub started: Instant,
    pub answered: Instant,
    /// Of the answer.
    pub seq: u64,
    pub answer: Answer,
}

/// How a term stopped holding its lease before its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Released,
    Revoked,
}

/// When the store held one term.
#[derive(Clone, Debug)]
pub struct Held {
    pub term: Term,
    pub granted: Instant,
    pub granted_seq: u64,
    /// Its acquire's or last successful renew's time, plus the `ttl` given then.
    pub expires: Instant,
    /// Released or revoked before `expires`: when, in which order, how.
    pub ended: Option<(Instant, u64, Ended)>,
}

#[derive(Default)]
struct State {
    faults: HashMap<(String, Call), Fault>,
    log: Vec<Logged>,
    /// Every term granted, by fence (one lease name per store here).
    held: Vec<Held>,
}

/// A `MemoryLeases` whose calls fail, hang or lag for the replicas a test picks.
#[derive(Clone)]
pub struct FaultyLeases {
    inner: MemoryLeases,
    state: Arc<Mutex<State>>,
    /// Bumped at every change of a fault: wakes the calls that hang.
    changed: Arc<watch::Sender<u64>>,
}

impl FaultyLeases {
    pub fn new() -> FaultyLeases {
        FaultyLeases {
            inner: MemoryLeases::new(),
            state: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
        }
    }

    /// The store underneath, for its hooks (`holder`, `set_unavailable`).
    pub fn memory(&self) -> &MemoryLeases {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now, `holder`'s calls of kind `call` do as `fault` says (calls hanging now too).
    pub fn set(&self, holder: &str, call: Call, fault: Fault) {
        self.state().faults.insert((holder.to_owned(), call), fault);
        self.changed.send_modify(|version| *version += 1);
    }

    /// All three calls of `holder` do as `fault` says: `Hang` is a replica cut off, or dead.
    pub fn set_all(&self, holder: &str, fault: Fault) {
        for call in Call::ALL {
            self.set(holder, call, fault);
        }
    }

    fn fault(&self, holder: &str, call: Call) -> Fault {
        let state = self.state();
        let key = (holder.to_owned(), call);
        state.faults.get(&key).copied().unwrap_or_default()
    }

    /// `MemoryLeases::revoke`, noted in the term's record.
    pub fn revoke(&self, name: &str) -> Option<Term> {
        let revoked = self.inner.revoke(name)?;
        let now = Instant::now();
        let mut state = self.state();
        if let Some(held) = state.held.iter_mut().find(|h| h.term == revoked) {
            held.ended.get_or_insert((now, seq(), Ended::Revoked));
        }
        Some(revoked)
    }

    /// Every call so far, in the order they answered.
    pub fn log(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// Every term granted so far, in fence order.
    pub fn terms(&self) -> Vec<Held> {
        self.state().held.clone()
    }

    /// The start of `holder`'s last successful renew of the term `fence` (or of its acquire
    /// if none succeeded): what its `renew_deadline` counts from.
    pub fn last_good_renew(&self, holder: &str, fence: u64) -> Instant {
        self.log()
            .iter()
            .rev()
            .find(|logged| {
                logged.holder == holder
                    && match logged.answer {
                        Answer::Renewed(true) => logged.fence == Some(fence),
                        Answer::Granted(granted) => granted == fence,
                        _ => false,
                    }
            })
            .map(|logged| logged.started)
            .expect("the term was granted")
    }

    /// Waits as `holder`'s fault for `call` says; `false` if the call fails.
    async fn reach(&self, holder: &str, call: Call) -> bool {
        // Subscribed before the fault is read: a change made after the read wakes the call.
        let mut changes = self.changed.subscribe();
        loop {
            match self.fault(holder, call) {
                Fault::Pass => return true,
                Fault::Fail => return false,
                Fault::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    return true;
                }
                Fault::Hang => {
                    let _ = changes.changed().await;
                }
            }
        }
    }

    fn record(&self, call: &Pending, answer: Answer) {
        let logged = Logged {
            holder: call.holder.clone(),
            call: call.call,
            fence: call.fence,
            started: call.started,
            answered: Instant::now(),
            seq: seq(),
            answer,
        };
        self.state().log.push(logged);
    }
}

impl Default for FaultyLeases {
    fn default() -> Self {
        FaultyLeases::new()
    }
}

/// A call in flight: logged as `Dropped` if its future is dropped before it answers.
struct Pending {
    store: FaultyLeases,
    holder: String,
    call: Call,
    fence: Option<u64>,
    started: Instant,
    answered: bool,
}

impl Pending {
    fn new(store: &FaultyLeases, holder: &str, call: Call, fence: Option<u64>) -> Pending {
        Pending {
            store: store.clone(),
            holder: holder.to_owned(),
            call,
            fence,
            started: Instant::now(),
            answered: false,
        }
    }

    fn answer(mut self, answer: Answer) {
        self.answered = true;
        self.store.record(&self, answer);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.answered {
            self.store.record(self, Answer::Dropped);
        }
    }
}

fn failure(holder: &str, call: Call) -> BoxError {
    format!("injected fault: {call:?} of {holder} failed").into()
}

#[async_tasks::runner::async_trait]
impl LeaseStore for FaultyLeases {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        let pending = Pending::new(self, holder, Call::Acquire, None);
        if !self.reach(holder, Call::Acquire).await {
            pending.answer(Answer::Failed);
            return Err(failure(holder, Call::Acquire));
        }
        // `MemoryLeases` answers in its first poll: nothing happens between its grant and
        // the record below.
        let acquired = self.inner.try_acquire(name, holder, ttl).await;
        match &acquired {
            Ok(Some(term)) => {
                let now = Instant::now();
                let granted_seq = seq();
                self.state().held.push(Held {
                    term: term.clone(),
                    granted: now,
                    granted_seq,
                    expires: now + ttl,
                    ended: None,
                });
                pending.answer(Answer::Granted(term.fence()));
            }
            Ok(None) => pending.answer(Answer::Refused),
            Err(_) => pending.answer(Answer::Failed),
        }
        acquired
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        let pending = Pending::new(self, term.holder(), Call::Renew, Some(term.fence()));
        if !self.reach(term.holder(), Call::Renew).await {
            pending.answer(Answer::Failed);
            return Err(failure(term.holder(), Call::Renew));
        }
        let renewed = self.inner.renew(term, ttl).await;
        match &renewed {
            Ok(renewed) => {
                if *renewed {
                    let expires = Instant::now() + ttl;
                    let mut state = self.state();
                    if let Some(held) = state.held.iter_mut().find(|h| h.term == *term) {
                        held.expires = expires;
                    }
                }
                pending.answer(Answer::Renewed(*renewed));
            }
            Err(_) => pending.answer(Answer::Failed),
        }
        renewed
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        let pending = Pending::new(self, term.holder(), Call::Release, Some(term.fence()));
        if !self.reach(term.holder(), Call::Release).await {
            pending.answer(Answer::Failed);
            return Err(failure(term.holder(), Call::Release));
        }
        let released = self.inner.release(term).await;
        if released.is_ok() {
            let now = Instant::now();
            let mut state = self.state();
            if let Some(held) = state.held.iter_mut().find(|h| h.term == *term)
                && held.ended.is_none()
                && now < held.expires
            {
                held.ended = Some((now, seq(), Ended::Released));
            }
            drop(state);
            pending.answer(Answer::Released);
        } else {
            pending.answer(Answer::Failed);
        }
        released
    }
}
