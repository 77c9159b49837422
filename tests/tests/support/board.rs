//! [`Board`]: who runs a singleton's body now, across the replicas of one test. Each run
//! of a [`poller`] enters with its term and leaves when it returns or is dropped; the board
//! keeps how many ran at once at most, and a record of every run.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_tasks::context::Cause;
use async_tasks::lease::{LeaseLost, Term};
use async_tasks::{Context, Func, Runner};
use tokio::time::Instant;

use super::faulty_leases::seq;

/// One run of a body.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub holder: String,
    pub fence: u64,
    pub started: Instant,
    pub started_seq: u64,
    /// When it ended (returned, or was dropped), and in which order.
    pub ended: Option<(Instant, u64)>,
    /// Dropped before it returned: aborted.
    pub dropped: bool,
    /// Its context's cause when it returned (`None`: it was not canceled).
    pub cause: Option<Cause>,
}

impl RunRecord {
    /// The `LeaseLost` its context was canceled with, if that is why it stopped.
    pub fn lost(&self) -> Option<&LeaseLost> {
        self.cause.as_ref()?.downcast_ref::<LeaseLost>()
    }

    pub fn end(&self) -> Instant {
        self.ended.expect("the run ended").0
    }
}

#[derive(Default)]
struct State {
    running: usize,
    most: usize,
    runs: Vec<RunRecord>,
}

/// Who runs now, shared by every replica's body.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<State>>);

impl Board {
    pub fn new() -> Board {
        Board::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A run under `term` starts; it ends when the returned guard is finished or dropped.
    pub fn enter(&self, term: &Term) -> Running {
        let mut state = self.state();
        state.running += 1;
        state.most = state.most.max(state.running);
        let index = state.runs.len();
        state.runs.push(RunRecord {
            holder: term.holder().to_owned(),
            fence: term.fence(),
            started: Instant::now(),
            started_seq: seq(),
            ended: None,
            dropped: false,
            cause: None,
        });
        Running {
            board: self.clone(),
            index,
            done: false,
        }
    }

    /// The most runs that were in flight at once, so far.
    pub fn most(&self) -> usize {
        self.state().most
    }

    /// How many runs are in flight now.
    pub fn running(&self) -> usize {
        self.state().running
    }

    /// Every run so far, in the order they started.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.state().runs.clone()
    }

    /// The runs of `holder`.
    pub fn runs_of(&self, holder: &str) -> Vec<RunRecord> {
        self.runs()
            .into_iter()
            .filter(|run| run.holder == holder)
            .collect()
    }

    fn leave(&self, index: usize, dropped: bool, cause: Option<Cause>) {
        let mut state = self.state();
        state.running -= 1;
        let run = &mut state.runs[index];
        run.ended = Some((Instant::now(), seq()));
        run.dropped = dropped;
        run.cause = cause;
    }
}

/// A run in flight on the [`Board`].
pub struct Running {
    board: Board,
    index: usize,
    done: bool,
}

impl Running {
    /// The run returns, its context as it is now.
    pub fn finish(mut self, ctx: &Context) {
        self.done = true;
        self.board.leave(self.index, false, ctx.cause());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.board.leave(self.index, true, None);
        }
    }
}

/// How a [`poller`]'s runs treat their context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obeys {
    /// Each run stops as soon as its context is done.
    Yes,
    /// Each run works its whole time whatever its context says.
    No,
}

/// A singleton's body named `poller`: each run enters `board` under its term
/// (`Term::current()`), works for `work` (stopping early if its context is done and it
/// `obeys`), and leaves.
pub fn poller(board: &Board, work: Duration, obeys: Obeys) -> impl Runner + Clone + use<> {
    let board = board.clone();
    Func::named("poller", move |ctx: Context| {
        let board = board.clone();
        async move {
            let term = Term::current().expect("a singleton's run has a term");
            let running = board.enter(&term);
            match obeys {
                Obeys::Yes => {
                    let _ = async_tasks::sleep(&ctx, work).await;
                }
                Obeys::No => tokio::time::sleep(work).await,
            }
            running.finish(&ctx);
            Ok(())
        }
    })
}
