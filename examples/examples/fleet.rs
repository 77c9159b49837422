//! Three replicas of one service, in one process, on the in-process lease store: each runs
//! the same outbox poller with `Tasks::run_singleton`, and only the one that holds the lease
//! polls. Mid-way the leader is shut down: it lets the lease go at once, and another replica
//! takes over within `retry_every`, under a higher fence. The outbox keeps the highest fence
//! it has seen and would refuse a batch sent under an older one (a write from a replica that
//! lost the lease without knowing it yet); it also counts how many pollers run at once.
//!
//! ```text
//! $ cargo run -p async-tasks-examples --example fleet
//!     0 ms  three replicas started: web-1, web-2, web-3
//!    50 ms  web-1 leads (fence 1)
//!    50 ms  web-1 sent batch 1 (fence 1)
//!   ...
//!  1200 ms  shutting down web-1, the leader
//!  1200 ms  web-1 shut down: 1 finished (poll-outbox), 0 canceled, 0 failed, 0 panicked, 0 aborted
//!  1300 ms  web-2 took over from web-1 (fence 2), 100 ms after it let go
//!   ...
//! 9 batches under fences 1 to 2, in order; at most 1 poller at a time
//! ```
//!
//! `RUST_LOG=info` shows the lease's own events too (who takes it, who loses it and why).
//! Its test runs the same demo on tokio's paused clock and checks every line.
//!
//! With a database, the replicas are processes on several hosts and the store is
//! `async_tasks_postgres::PgLeases`; the code is the same but for the store. The timings are
//! small to keep the demo short (ttl 1.5 s, renew_deadline 1 s, retry_every 250 ms); a
//! service keeps the defaults (15 s, 10 s, 2 s) or close.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_tasks::lease::{Lease, MemoryLeases, Term};
use async_tasks::task::LoopPolicy;
use async_tasks::{BoxError, Context, Tasks, async_task, sleep};
use async_tasks_examples::Output;
use tokio::time::Instant;
use tracing_subscriber::EnvFilter;

const REPLICAS: [&str; 3] = ["web-1", "web-2", "web-3"];

/// Where the poller sends what it finds: it keeps the highest fence it has seen, refuses
/// a batch under an older one, and counts the pollers in flight.
#[derive(Clone)]
struct Outbox {
    state: Arc<Mutex<OutboxState>>,
    out: Output,
    start: Instant,
}

#[derive(Default)]
struct OutboxState {
    highest_fence: u64,
    /// The replica that sent the last batch.
    last_sender: Option<String>,
    batches: u32,
    polling: u32,
    most_polling: u32,
    /// When the leader let the lease go, for the handover's time.
    let_go_at: Option<Instant>,
}

/// One poller in flight; leaves when dropped.
struct Polling(Outbox);

impl Drop for Polling {
    fn drop(&mut self) {
        self.0.state().polling -= 1;
    }
}

impl Outbox {
    fn new(out: Output) -> Outbox {
        Outbox {
            state: Arc::default(),
            out,
            start: Instant::now(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the demo started, rounded to tens: the demo's clock.
    fn at(&self) -> String {
        let ms = self.start.elapsed().as_millis();
        format!("{:>5} ms", ms / 10 * 10)
    }

    fn begin(&self) -> Polling {
        let mut state = self.state();
        state.polling += 1;
        state.most_polling = state.most_polling.max(state.polling);
        Polling(self.clone())
    }

    /// Takes one batch, sent under `term`; refused if a later term has sent already.
    fn send(&self, term: &Term) -> Result<(), BoxError> {
        let mut state = self.state();
        if term.fence() < state.highest_fence {
            return Err(format!(
                "refused a batch under fence {}: fence {} has sent already",
                term.fence(),
                state.highest_fence
            )
            .into());
        }
        if term.fence() > state.highest_fence {
            let line = match (&state.last_sender, state.let_go_at) {
                (None, _) => format!("{} leads (fence {})", term.holder(), term.fence()),
                (Some(before), Some(let_go)) => format!(
                    "{} took over from {before} (fence {}), {} ms after it let go",
                    term.holder(),
                    term.fence(),
                    let_go.elapsed().as_millis()
                ),
                (Some(before), None) => format!(
                    "{} took over from {before} (fence {})",
                    term.holder(),
                    term.fence()
                ),
            };
            self.out.println(format_args!("{}  {line}", self.at()));
            state.highest_fence = term.fence();
        }
        state.batches += 1;
        state.last_sender = Some(term.holder().to_owned());
        self.out.println(format_args!(
            "{}  {} sent batch {} (fence {})",
            self.at(),
            term.holder(),
            state.batches,
            term.fence()
        ));
        Ok(())
    }
}

/// One poll of the outbox: a batch found, sent under this replica's term.
#[async_task(name = "poll-outbox")]
async fn poll_outbox(ctx: Context, outbox: Outbox) -> Result<(), BoxError> {
    // The term this replica leads under: the fence goes with every write.
    let term = Term::current().expect("a singleton's run has a term");
    let _polling = outbox.begin();
    sleep(&ctx, Duration::from_millis(50)).await?; // finding the batch
    outbox.send(&term)
}

/// One replica of the service: its own `Tasks`, campaigning for the poller's lease.
fn replica(name: &'static str, leases: &MemoryLeases, outbox: &Outbox) -> Tasks {
    let tasks = Tasks::new(name);
    let lease = Lease::new("outbox-poller", leases.clone())
        .holder(name)
        .ttl(Duration::from_millis(1500))
        .renew_deadline(Duration::from_millis(1000))
        .retry_every(Duration::from_millis(250));
    tasks.run_singleton_with(
        &Context::background(),
        lease,
        poll_outbox(outbox.clone()),
        LoopPolicy::every(Duration::from_millis(250)),
    );
    tasks
}

/// What the demo shows at its end.
#[derive(Debug)]
struct Summary {
    batches: u32,
    highest_fence: u64,
    most_polling: u32,
}

async fn fleet(out: &Output) -> Summary {
    let leases = MemoryLeases::new(); // a database's table in production
    let outbox = Outbox::new(out.clone());
    let mut replicas: Vec<(&str, Tasks)> = REPLICAS
        .into_iter()
        .map(|name| (name, replica(name, &leases, &outbox)))
        .collect();
    out.println(format_args!(
        "{}  three replicas started: {}",
        outbox.at(),
        REPLICAS.join(", ")
    ));

    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Shut the leader down, as a deploy would: its poller stops, the lease is let go.
    let leader = leases.holder("outbox-poller").expect("one replica leads");
    let at = replicas
        .iter()
        .position(|(name, _)| *name == leader.holder())
        .expect("a replica of ours");
    let (name, tasks) = replicas.remove(at);
    out.println(format_args!(
        "{}  shutting down {name}, the leader",
        outbox.at()
    ));
    let report = tasks.shutdown_report(Duration::from_secs(1)).await;
    outbox.state().let_go_at = Some(Instant::now());
    out.println(format_args!("{}  {name} shut down: {report}", outbox.at()));

    tokio::time::sleep(Duration::from_millis(1300)).await;
    out.println(format_args!("{}  stopping the service", outbox.at()));
    // All at once, as the pods of a deployment that is scaled down: none takes over from
    // the last leader.
    let stopping: Vec<_> = replicas
        .into_iter()
        .map(|(name, tasks)| {
            let stopped = tokio::spawn(async move {
                tasks.drain(Duration::from_secs(2)).await.ok();
                tasks.shutdown_report(Duration::from_secs(1)).await
            });
            (name, stopped)
        })
        .collect();
    for (name, stopped) in stopping {
        let report = stopped.await.expect("a report");
        out.println(format_args!("{}  {name} shut down: {report}", outbox.at()));
    }

    let state = outbox.state();
    let summary = Summary {
        batches: state.batches,
        highest_fence: state.highest_fence,
        most_polling: state.most_polling,
    };
    out.println(format_args!(
        "{} batches under fences 1 to {}, in order; at most {} poller at a time",
        summary.batches, summary.highest_fence, summary.most_polling
    ));
    summary
}

#[tokio::main]
async fn main() {
    // The lease's own events (who takes it, who loses it and why) at RUST_LOG=info.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(async_tasks::fmt::Fields::new())
        .without_time()
        .init();
    fleet(&Output::stdout()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_replica_polls_the_leader_hands_over_and_fences_increase() {
        let out = Output::capture();
        let summary = fleet(&out).await;
        assert_eq!(summary.most_polling, 1, "never two pollers at once");
        assert_eq!(summary.highest_fence, 2, "one handover");
        let lines = out.lines();
        let expected = [
            "    0 ms  three replicas started: web-1, web-2, web-3",
            "   50 ms  web-1 leads (fence 1)",
            "   50 ms  web-1 sent batch 1 (fence 1)",
            "  350 ms  web-1 sent batch 2 (fence 1)",
            "  650 ms  web-1 sent batch 3 (fence 1)",
            "  950 ms  web-1 sent batch 4 (fence 1)",
            " 1200 ms  shutting down web-1, the leader",
            " 1200 ms  web-1 shut down: 1 finished (poll-outbox), 0 canceled, 0 failed, 0 panicked, 0 aborted",
            " 1300 ms  web-2 took over from web-1 (fence 2), 100 ms after it let go",
            " 1300 ms  web-2 sent batch 5 (fence 2)",
            " 1600 ms  web-2 sent batch 6 (fence 2)",
            " 1900 ms  web-2 sent batch 7 (fence 2)",
            " 2200 ms  web-2 sent batch 8 (fence 2)",
            " 2500 ms  stopping the service",
            " 2500 ms  web-2 sent batch 9 (fence 2)",
            " 2500 ms  web-2 shut down: 1 finished (poll-outbox), 0 canceled, 0 failed, 0 panicked, 0 aborted",
            " 2500 ms  web-3 shut down: 1 finished (poll-outbox), 0 canceled, 0 failed, 0 panicked, 0 aborted",
            "9 batches under fences 1 to 2, in order; at most 1 poller at a time",
        ];
        assert_eq!(lines, expected, "{lines:#?}");
    }
}
