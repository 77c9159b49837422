//! Every way a task's context joins another runs in constant memory: work handed from set to
//! set with each task's own context, under any topology of sets, holds a bounded number of
//! context nodes however long it runs.
//!
//! A task's context is a join of its caller's context and its set's; handed on from task to
//! task, each hop joins once more. What is measured is `__private::probes::context_nodes`:
//! the nodes a context keeps alive (itself and every ancestor), which is what such a chain
//! costs in memory (about 300 bytes a node).
//!
//! Covers:
//! - a pipeline through three sets, A to B to C to A again (regression: it grew a node per
//!   hop; one or two sets stayed flat);
//! - random topologies (a property): up to six sets, roots or children of each other, each
//!   with a pool, and a random hop program cycled for 240 hops — to which set, started how
//!   (`run`, `spawn`, `run_background`, `run_loop`, a pool's `run`), with which context
//!   (the task's own, a caller's, the background, a set's) — never hold more than twice as
//!   many nodes as there are sets, pools and callers.
//!
//! Not covered, by design: a chain that joins a context made anew at each hop (a new
//! child set per hop, or `with_cancel` of its own context) holds one node per context it
//! joined, as a chain of `with_cancel` does.
//!
//! 256 cases of the property by default (a few seconds in debug); `.ci/soak` runs 2,560
//! from its seed.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_tasks::__private::probes;
use async_tasks::pool::Pool;
use async_tasks::runner::async_trait;
use async_tasks::task::StopLoop;
use async_tasks::{BoxError, Context, Func, Runner, Tasks};
use proptest::prelude::*;
use tokio::runtime::Builder;

use support::wait_bounded;

/// How a hop starts the next task.
#[derive(Debug, Clone, Copy)]
enum Start {
    Run,
    Spawn,
    Background,
    /// A loop whose one iteration starts the next hop, then stops the loop.
    Loop,
    /// A run of the set's pool (a child set of its own).
    Pool,
}

/// Which context a hop hands the next task.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// The task's own: the chain goes on.
    Own,
    /// A caller's context, made once for the whole case.
    Caller,
    Background,
    /// The context of set `n` (modulo the number of sets).
    Set(usize),
}

/// One step of a hop program: start the next task on set `to` (modulo the number of sets).
#[derive(Debug, Clone, Copy)]
struct Hop {
    to: usize,
    start: Start,
    pass: Pass,
}

/// A chain of hops: each task records how many nodes its context holds, then starts the
/// next hop of the program (cycled) and ends.
#[derive(Clone)]
struct Chain {
    sets: Arc<Vec<Tasks>>,
    /// Each set's pool, in the same order.
    pools: Arc<Vec<Arc<Pool>>>,
    caller: Context,
    program: Arc<Vec<Hop>>,
    /// The hop this task is.
    at: usize,
    hops: usize,
    /// Whether this task is a loop's, which stops after its one iteration.
    looping: bool,
    held: Arc<Mutex<Vec<usize>>>,
}

impl Chain {
    /// Starts hop `self.at` with `ctx` as the caller's context.
    fn start(&self, ctx: &Context) {
        if self.at == self.hops {
            return;
        }
        let hop = self.program[self.at % self.program.len()];
        let set = &self.sets[hop.to % self.sets.len()];
        let ctx = match hop.pass {
            Pass::Own => ctx.clone(),
            Pass::Caller => self.caller.clone(),
            Pass::Background => Context::background(),
            Pass::Set(n) => self.sets[n % self.sets.len()].context(),
        };
        let next = Chain {
            at: self.at + 1,
            looping: matches!(hop.start, Start::Loop),
            ..self.clone()
        };
        match hop.start {
            Start::Run => set.run(&ctx, next),
            Start::Background => set.run_background(&ctx, next),
            Start::Loop => set.run_loop(&ctx, next),
            Start::Spawn => {
                drop(set.spawn(&ctx, "hop", move |ctx| async move { next.run(ctx).await }));
            }
            Start::Pool => {
                let pool = Arc::clone(&self.pools[hop.to % self.sets.len()]);
                // From a task of the pool's own set: the admission waits for a slot there.
                set.run(
                    &ctx,
                    Func::new(move |ctx: Context| {
                        let (pool, next) = (Arc::clone(&pool), next.clone());
                        async move { Ok(pool.run(&ctx, next).await?) }
                    }),
                );
            }
        }
    }
}

#[async_trait]
impl Runner for Chain {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        self.held.lock().unwrap().push(probes::context_nodes(&ctx));
        // The last act of the run: the next hop, with this run's own context.
        self.start(&ctx);
        if self.looping {
            return Err(StopLoop.into());
        }
        Ok(())
    }
}

/// Runs `program` for `hops` hops over `sets` (a root or the child of an earlier set each),
/// and returns how many nodes each hop's context held.
fn run_chain(sets: &[Option<usize>], program: Vec<Hop>, hops: usize) -> Vec<usize> {
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut made: Vec<Tasks> = Vec::new();
        for (i, parent) in sets.iter().enumerate() {
            let name = format!("s{i}");
            let set = match parent {
                Some(parent) if i > 0 => made[parent % i].child(name),
                _ => Tasks::new(name),
            };
            made.push(set);
        }
        let (caller, _cancel) = Context::background().with_cancel();
        let pools = made
            .iter()
            .map(|set| Arc::new(set.pool("pool", 2)))
            .collect();
        let chain = Chain {
            sets: Arc::new(made),
            pools: Arc::new(pools),
            caller: caller.clone(),
            program: Arc::new(program),
            at: 0,
            hops,
            looping: false,
            held: Arc::default(),
        };
        chain.start(&caller);
        // The chain hands on from one task to the next, from set to set: waited for until
        // every hop has run and no set runs anything.
        let ran = |chain: &Chain| chain.held.lock().unwrap().len();
        let all_done = async {
            while ran(&chain) < hops || chain.sets.iter().any(|set| set.running() > 0) {
                for set in chain.sets.iter() {
                    wait_bounded(set).await;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all_done)
            .await
            .expect("the chain of hops did not end");
        chain.held.lock().unwrap().clone()
    })
}

/// Regression (reliability round 3, defect 6): a task of A starting the next step on B,
/// whose task starts one on C, whose task starts one on A again, each with its own context:
/// each join of the three kept the previous one, so the chain grew by a node per hop (about
/// 300 bytes), for as long as the pipeline ran.
#[test]
fn a_pipeline_through_three_sets_holds_a_bounded_number_of_contexts() {
    let program = (0..3)
        .map(|to| Hop {
            to,
            start: Start::Run,
            pass: Pass::Own,
        })
        .collect();
    let held = run_chain(&[None, None, None], program, 3_000);
    let most = held.iter().max().copied().unwrap_or_default();
    // The caller's node and the three sets' (the real ones), and as many joins.
    assert!(
        most <= 8,
        "a context held {most} nodes; the last hops held {:?}",
        &held[held.len() - 6..]
    );
}

fn hop_strategy() -> impl Strategy<Value = Hop> {
    let start = prop_oneof![
        4 => Just(Start::Run),
        2 => Just(Start::Spawn),
        1 => Just(Start::Background),
        1 => Just(Start::Loop),
        1 => Just(Start::Pool),
    ];
    let pass = prop_oneof![
        8 => Just(Pass::Own),
        1 => Just(Pass::Caller),
        1 => Just(Pass::Background),
        1 => (0..6usize).prop_map(Pass::Set),
    ];
    (0..6usize, start, pass).prop_map(|(to, start, pass)| Hop { to, start, pass })
}

/// The hops of a case.
const HOPS: usize = 240;

proptest! {
    #![proptest_config(support::proptest_config(0x5eed_c0de_70b0))]

    #[test]
    fn any_topology_of_joins_holds_a_bounded_number_of_contexts(
        sets in prop::collection::vec(prop::option::of(0..6usize), 1..=6),
        program in prop::collection::vec(hop_strategy(), 1..12),
    ) {
        let held = run_chain(&sets, program, HOPS);
        // Each set's context, its pool's and the caller's are real nodes; a join stands
        // for two or more of them, and hangs on at most one other join: no more joins
        // than real nodes, whatever the order of the hops.
        let bound = 2 * (2 * sets.len() + 1);
        let most = held.iter().max().copied().unwrap_or_default();
        prop_assert!(
            most <= bound,
            "a context held {} nodes (bound {}); the last hops held {:?}",
            most,
            bound,
            &held[held.len().saturating_sub(6)..]
        );
    }
}
