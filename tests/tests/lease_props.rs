//! Property tests of `MemoryLeases`: random sequences of acquires, renews and releases by
//! several holders on two leases, with revokes, outages and clock moves, each step checked
//! against a plain model.
//!
//! After every step:
//!
//! - each operation returned what the model says: a grant with the model's fence (or
//!   `None` while a live term holds the lease), `true` from a renew only by the very term
//!   that holds the lease unexpired, an error from every operation while the store is
//!   unavailable;
//! - `holder(name)` is the model's live term, so at most one term holds each lease;
//! - every fence granted under a name is greater than all earlier ones of that name.
//!
//! Renews and releases are made with terms the store granted (old ones included), and with
//! forged ones that claim a granted term's fence under another holder, or its holder with
//! another fence. Expiry is by tokio's paused clock, in whole milliseconds; a `ttl` of zero
//! grants a term that has already expired.
//!
//! 256 cases run by default. To soak:
//!
//! ```text
//! PROPTEST_CASES=10000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p async-tasks-tests --test lease_props
//! ```

mod support;

use std::time::Duration;

use async_tasks::lease::{LeaseStore, MemoryLeases, Term};
use proptest::prelude::*;

const NAMES: [&str; 2] = ["outbox", "reports"];
const HOLDERS: [&str; 3] = ["web-1", "web-2", "web-3"];

/// A term to renew or release: one the store granted (by index, modulo how many it
/// granted), as it is or forged.
#[derive(Debug, Clone)]
enum Pick {
    Granted(usize),
    /// A granted term's fence, claimed by another holder.
    OtherHolder(usize),
    /// A granted term's holder, with the next fence.
    NextFence(usize),
}

#[derive(Debug, Clone)]
enum Step {
    Acquire {
        name: usize,
        holder: usize,
        ttl_ms: u64,
    },
    Renew {
        pick: Pick,
        ttl_ms: u64,
    },
    Release(Pick),
    Revoke(usize),
    AdvanceMs(u64),
    Unavailable(bool),
}

fn pick_strategy() -> impl Strategy<Value = Pick> {
    prop_oneof![
        6 => any::<usize>().prop_map(Pick::Granted),
        1 => any::<usize>().prop_map(Pick::OtherHolder),
        1 => any::<usize>().prop_map(Pick::NextFence),
    ]
}

fn ttl_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 8 => 1..60u64]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..NAMES.len(), 0..HOLDERS.len(), ttl_strategy())
            .prop_map(|(name, holder, ttl_ms)| Step::Acquire { name, holder, ttl_ms }),
        5 => (pick_strategy(), ttl_strategy())
            .prop_map(|(pick, ttl_ms)| Step::Renew { pick, ttl_ms }),
        3 => pick_strategy().prop_map(Step::Release),
        1 => (0..NAMES.len()).prop_map(Step::Revoke),
        4 => (0..40u64).prop_map(Step::AdvanceMs),
        1 => any::<bool>().prop_map(Step::Unavailable),
    ]
}

/// The model of one lease.
#[derive(Debug, Default)]
struct ModelLease {
    last_fence: u64,
    /// The last term granted, unless released or revoked, and its expiry (ms).
    held: Option<(Term, u64)>,
}

impl ModelLease {
    fn live(&self, now: u64) -> Option<&Term> {
        self.held
            .as_ref()
            .filter(|(_, expires)| now < *expires)
            .map(|(term, _)| term)
    }
}

#[derive(Debug, Default)]
struct Model {
    /// Milliseconds since the case started.
    now: u64,
    leases: [ModelLease; 2],
    unavailable: bool,
}

impl Model {
    fn lease(&mut self, name: &str) -> &mut ModelLease {
        let i = NAMES.iter().position(|n| *n == name).expect("a known name");
        &mut self.leases[i]
    }

    fn acquire(&mut self, name: usize, holder: usize, ttl_ms: u64) -> Option<Option<Term>> {
        if self.unavailable {
            return None;
        }
        let now = self.now;
        let lease = &mut self.leases[name];
        if lease.live(now).is_some() {
            return Some(None);
        }
        lease.last_fence += 1;
        let term = Term::new(NAMES[name], HOLDERS[holder], lease.last_fence);
        lease.held = Some((term.clone(), now + ttl_ms));
        Some(Some(term))
    }

    fn renew(&mut self, term: &Term, ttl_ms: u64) -> Option<bool> {
        if self.unavailable {
            return None;
        }
        let now = self.now;
        let lease = self.lease(term.name());
        if lease.live(now) != Some(term) {
            return Some(false);
        }
        lease.held = Some((term.clone(), now + ttl_ms));
        Some(true)
    }

    fn release(&mut self, term: &Term) -> Option<()> {
        if self.unavailable {
            return None;
        }
        let lease = self.lease(term.name());
        if lease.held.as_ref().is_some_and(|(held, _)| held == term) {
            lease.held = None;
        }
        Some(())
    }

    fn revoke(&mut self, name: usize) -> Option<Term> {
        let now = self.now;
        let lease = &mut self.leases[name];
        let live = lease.live(now).cloned();
        lease.held = None;
        live
    }
}

/// The term `pick` names, among those `granted` so far; `None` before the first grant.
fn term_of(pick: &Pick, granted: &[Term]) -> Option<Term> {
    if granted.is_empty() {
        return None;
    }
    Some(match pick {
        Pick::Granted(i) => granted[i % granted.len()].clone(),
        Pick::OtherHolder(i) => {
            let term = &granted[i % granted.len()];
            let other = HOLDERS
                .iter()
                .find(|h| **h != term.holder())
                .expect("3 holders");
            Term::new(term.name(), *other, term.fence())
        }
        Pick::NextFence(i) => {
            let term = &granted[i % granted.len()];
            Term::new(term.name(), term.holder(), term.fence() + 1)
        }
    })
}

fn run_case(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let store = MemoryLeases::new();
        let mut model = Model::default();
        let mut granted: Vec<Term> = Vec::new();

        for (n, step) in steps.iter().enumerate() {
            match step {
                Step::Acquire {
                    name,
                    holder,
                    ttl_ms,
                } => {
                    let real = store
                        .try_acquire(
                            NAMES[*name],
                            HOLDERS[*holder],
                            Duration::from_millis(*ttl_ms),
                        )
                        .await
                        .ok();
                    let expected = model.acquire(*name, *holder, *ttl_ms);
                    prop_assert_eq!(&real, &expected, "try_acquire at step {}", n);
                    if let Some(Some(term)) = real {
                        let earlier = granted.iter().filter(|t| t.name() == term.name());
                        for before in earlier {
                            prop_assert!(
                                term.fence() > before.fence(),
                                "{:?} after {:?}",
                                term,
                                before
                            );
                        }
                        granted.push(term);
                    }
                }
                Step::Renew { pick, ttl_ms } => {
                    let Some(term) = term_of(pick, &granted) else {
                        continue;
                    };
                    let real = store
                        .renew(&term, Duration::from_millis(*ttl_ms))
                        .await
                        .ok();
                    let expected = model.renew(&term, *ttl_ms);
                    prop_assert_eq!(real, expected, "renew({:?}) at step {}", term, n);
                }
                Step::Release(pick) => {
                    let Some(term) = term_of(pick, &granted) else {
                        continue;
                    };
                    let real = store.release(&term).await.ok();
                    let expected = model.release(&term);
                    prop_assert_eq!(real, expected, "release({:?}) at step {}", term, n);
                }
                Step::Revoke(name) => {
                    let real = store.revoke(NAMES[*name]);
                    prop_assert_eq!(real, model.revoke(*name), "revoke at step {}", n);
                }
                Step::AdvanceMs(ms) => {
                    tokio::time::advance(Duration::from_millis(*ms)).await;
                    model.now += ms;
                }
                Step::Unavailable(unavailable) => {
                    store.set_unavailable(*unavailable);
                    model.unavailable = *unavailable;
                }
            }
            for (i, name) in NAMES.iter().enumerate() {
                let live = model.leases[i].live(model.now).cloned();
                prop_assert_eq!(
                    store.holder(name),
                    live,
                    "holder({}) after step {}",
                    name,
                    n
                );
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(support::proptest_config(0x1ea5_e5f0_7ce5))]

    #[test]
    fn memory_leases_behave_as_the_model(
        steps in prop::collection::vec(step_strategy(), 1..64)
    ) {
        run_case(steps)?;
    }
}

/// A lease whose term expired and was revoked: revoke finds nothing live to take, and the
/// next grant still gets a higher fence.
#[test]
fn a_revoke_after_expiry_takes_nothing_and_spends_no_fence() {
    run_case(vec![
        Step::Acquire {
            name: 0,
            holder: 0,
            ttl_ms: 5,
        },
        Step::AdvanceMs(5),
        Step::Revoke(0),
        Step::Acquire {
            name: 0,
            holder: 1,
            ttl_ms: 5,
        },
        Step::Renew {
            pick: Pick::Granted(0),
            ttl_ms: 5,
        },
        Step::Renew {
            pick: Pick::Granted(1),
            ttl_ms: 5,
        },
    ])
    .unwrap();
}
