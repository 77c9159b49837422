//! One replica of a service, as its own OS process: `<suite binary> replica --url .. --lease
//! .. --holder .. --name .. [--ttl-ms ..] [--renew-deadline-ms ..] [--retry-every-ms ..]
//! [--call-timeout-ms ..] [--every-ms ..] [--work-ms ..]`.
//!
//! It connects a [`PgLeases`] to the URL (the test server's, or a proxy's in front of it),
//! migrates, and runs `Tasks::run_singleton` of a [`Poller`] that, each iteration, writes one
//! row fenced by its term (see [`Poller::write`]). It tells the parent what happens on its
//! stdout, one line per event, each starting with the time it happened (microseconds since
//! the Unix epoch, the host's clock, so that the parent can compare it with its own):
//!
//! | line | when |
//! |---|---|
//! | `ready` | connected, migrated, the singleton started |
//! | `acquired F STARTED` | a `try_acquire` started at STARTED granted the term of fence F |
//! | `follower` | a `try_acquire` found the lease held by another, after anything else |
//! | `acquire-error MSG` | a `try_acquire` failed |
//! | `renew F STARTED ok\|lost\|error MSG` | a renew of term F, started at STARTED, ended so |
//! | `released F` / `release-error F MSG` | a release of term F |
//! | `leading F` | the first run under term F started (so `Term::current()` is F) |
//! | `writing F SEQ` | the run is about to write its SEQth row, under F |
//! | `write F SEQ ok\|rejected\|error MSG` | that write was accepted, or refused by a later fence |
//! | `lost F REASON MSG` | the runs of term F were canceled (`LossReason`: `not_held`, `renew_timed_out`, `store_failed`; `other` for anything else) |
//! | `draining` / `drained` | SIGTERM (or `drain`, or the end of stdin) was received / the drain is over |
//!
//! It drains (`Tasks::drain`, which releases the lease at once) on SIGTERM, on a `drain` line
//! on its stdin, or when its stdin closes, so that a replica never outlives the test that
//! started it; then it exits.

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_tasks::lease::{Lease, LeaseLost, LeaseStore, LossReason, Term};
use async_tasks::runner::async_trait;
use async_tasks::task::LoopPolicy;
use async_tasks::{BoxError, Context, Runner, Tasks};
use async_tasks_postgres::PgLeases;
use tokio::io::AsyncBufReadExt as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;
use tokio::time::timeout;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};
use tokio_util::task::AbortOnDropHandle;

/// A replica's settings, from its command line (see [`Config::args`] for the other side).
#[derive(Clone, Debug)]
pub struct Config {
    pub url: String,
    pub lease: String,
    pub holder: String,
    /// The process's name in the history (the holder id is not enough: two replicas can
    /// share one).
    pub name: String,
    pub ttl: Duration,
    pub renew_deadline: Duration,
    pub retry_every: Duration,
    /// The store's call timeout, and the bound on each fenced write.
    pub call_timeout: Duration,
    /// The pause after each write; zero: no writes at all (a poller that only waits).
    pub every: Duration,
    /// Blocking work between announcing a write (`writing`) and sending it: a stretch of
    /// CPU-bound work (or a collector's pause) that a SIGSTOP can land in, so that the write
    /// is sent only once the process runs again.
    pub work: Duration,
}

impl Config {
    /// The short timings of the fault suite: ttl 3 s, renew_deadline 2 s, retry_every
    /// 500 ms, calls bounded by 1 s, a write every 100 ms.
    pub fn new(url: String, lease: &str, holder: &str, name: &str) -> Config {
        Config {
            url,
            lease: lease.to_owned(),
            holder: holder.to_owned(),
            name: name.to_owned(),
            ttl: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_every: Duration::from_millis(500),
            call_timeout: Duration::from_secs(1),
            every: Duration::from_millis(100),
            work: Duration::ZERO,
        }
    }

    /// The command line that [`Config::parse`] reads back.
    pub fn args(&self) -> Vec<String> {
        let ms = |d: Duration| d.as_millis().to_string();
        [
            ("--url", self.url.clone()),
            ("--lease", self.lease.clone()),
            ("--holder", self.holder.clone()),
            ("--name", self.name.clone()),
            ("--ttl-ms", ms(self.ttl)),
            ("--renew-deadline-ms", ms(self.renew_deadline)),
            ("--retry-every-ms", ms(self.retry_every)),
            ("--call-timeout-ms", ms(self.call_timeout)),
            ("--every-ms", ms(self.every)),
            ("--work-ms", ms(self.work)),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }

    fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut config = Config::new(String::new(), "", "", "");
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let ms = || {
                value
                    .parse()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("{flag} takes milliseconds, not {value:?}"))
            };
            match flag.as_str() {
                "--url" => config.url = value.clone(),
                "--lease" => config.lease = value.clone(),
                "--holder" => config.holder = value.clone(),
                "--name" => config.name = value.clone(),
                "--ttl-ms" => config.ttl = ms()?,
                "--renew-deadline-ms" => config.renew_deadline = ms()?,
                "--retry-every-ms" => config.retry_every = ms()?,
                "--call-timeout-ms" => config.call_timeout = ms()?,
                "--every-ms" => config.every = ms()?,
                "--work-ms" => config.work = ms()?,
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        for (what, value) in [
            ("--url", &config.url),
            ("--lease", &config.lease),
            ("--holder", &config.holder),
        ] {
            if value.is_empty() {
                return Err(format!("{what} is required"));
            }
        }
        if config.name.is_empty() {
            config.name = config.holder.clone();
        }
        Ok(config)
    }
}

/// The replica's `main`: `args` are those after `replica`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let config = match Config::parse(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("replica: {err}");
            return ExitCode::from(2);
        }
    };
    // One thread: a replica is small, and the suite runs many at once on two cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let served = runtime.block_on(serve(config));
    // Without waiting for the thread that reads stdin: its read blocks until the parent
    // closes the pipe.
    runtime.shutdown_background();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("replica: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), BoxError> {
    let out = Out;
    let mut terminate = signal(SignalKind::terminate())?;
    let store = PgLeases::builder()
        .call_timeout(config.call_timeout)
        .connect(&config.url)
        .await?;
    store.migrate().await?;
    let store = Observed {
        store,
        out,
        last_acquire: std::sync::Mutex::new(Acquire::Nothing),
    };
    let lease = Lease::new(config.lease.clone(), store)
        .holder(config.holder.clone())
        .ttl(config.ttl)
        .renew_deadline(config.renew_deadline)
        .retry_every(config.retry_every);
    let tasks = Tasks::new("replica");
    let poller = Poller {
        config: config.clone(),
        out,
        writer: Mutex::new(None),
        seq: AtomicU64::new(0),
        fence: AtomicU64::new(0),
    };
    // Write errors (the connection cut, the server frozen) are retried, never the end.
    let policy = LoopPolicy::new().on_error(
        async_tasks::backon::ConstantBuilder::default()
            .with_delay(Duration::from_millis(100))
            .without_max_times(),
    );
    tasks.run_singleton_with(&Context::background(), lease, poller, policy);
    out.line(format_args!("ready"));

    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            line = stdin.next_line() => match line {
                Ok(Some(line)) if line.trim() == "drain" => break,
                Ok(Some(line)) => eprintln!("replica: unknown command {line:?}"),
                Ok(None) | Err(_) => break,
            },
        }
    }
    out.line(format_args!("draining"));
    // The iteration in flight finishes; the lease is released at once.
    tasks.drain(config.ttl).await?;
    out.line(format_args!("drained"));
    Ok(())
}

/// The replica's stdout: one line per event, each starting with when it happened.
#[derive(Clone, Copy)]
struct Out;

impl Out {
    fn line(self, what: fmt::Arguments<'_>) {
        let mut stdout = std::io::stdout().lock();
        // A parent that went away: the replica drains when its stdin closes anyway.
        let _ = writeln!(stdout, "{} {what}", micros(SystemTime::now()));
        let _ = stdout.flush();
    }
}

/// `at` in microseconds since the Unix epoch.
pub fn micros(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

/// What the last `try_acquire` said, so that `follower` is told once per change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acquire {
    Nothing,
    Granted,
    Refused,
    Failed,
}

/// The replica's lease store: `PgLeases`, telling the parent about each call.
struct Observed {
    store: PgLeases,
    out: Out,
    last_acquire: std::sync::Mutex<Acquire>,
}

impl Observed {
    fn acquired(&self, now: Acquire) -> bool {
        let mut last = self.last_acquire.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *last, now) != now
    }
}

#[async_trait]
impl LeaseStore for Observed {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Term>, BoxError> {
        let started = micros(SystemTime::now());
        let acquired = self.store.try_acquire(name, holder, ttl).await;
        match &acquired {
            Ok(Some(term)) => {
                self.acquired(Acquire::Granted);
                self.out
                    .line(format_args!("acquired {} {started}", term.fence()));
            }
            Ok(None) => {
                if self.acquired(Acquire::Refused) {
                    self.out.line(format_args!("follower"));
                }
            }
            Err(err) => {
                self.acquired(Acquire::Failed);
                self.out
                    .line(format_args!("acquire-error {}", one_line(err)));
            }
        }
        acquired
    }

    async fn renew(&self, term: &Term, ttl: Duration) -> Result<bool, BoxError> {
        let started = micros(SystemTime::now());
        let renewed = self.store.renew(term, ttl).await;
        let fence = term.fence();
        match &renewed {
            Ok(true) => self.out.line(format_args!("renew {fence} {started} ok")),
            Ok(false) => self.out.line(format_args!("renew {fence} {started} lost")),
            Err(err) => self.out.line(format_args!(
                "renew {fence} {started} error {}",
                one_line(err)
            )),
        }
        renewed
    }

    async fn release(&self, term: &Term) -> Result<(), BoxError> {
        let released = self.store.release(term).await;
        match &released {
            Ok(()) => self.out.line(format_args!("released {}", term.fence())),
            Err(err) => self.out.line(format_args!(
                "release-error {} {}",
                term.fence(),
                one_line(err)
            )),
        }
        released
    }
}

fn one_line(err: &BoxError) -> String {
    err.to_string().replace('\n', " ")
}

/// The singleton's body: a poller that writes one row per iteration, fenced by its term.
struct Poller {
    config: Config,
    out: Out,
    /// The connection of the writes, opened again after it broke or a write timed out.
    writer: Mutex<Option<Writer>>,
    /// The writes of this process, numbered from 1 across its terms.
    seq: AtomicU64,
    /// The fence of the last term a run started under.
    fence: AtomicU64,
}

/// A connection and the task that drives it, aborted (its socket closed) when dropped.
struct Writer {
    client: Client,
    _task: AbortOnDropHandle<()>,
}

/// The one statement of a write: the guard row of the lease moves to this fence unless a
/// later one already wrote (`fence <= $2`), and the attempt is recorded with whether it was
/// accepted. One statement, so one transaction of its own: a write that the server got is
/// in the history whatever became of the process that sent it (aborted mid-call, killed).
/// The guard's row lock orders the accepted writes: their ids follow their commits.
pub const WRITE: &str = "WITH guard AS (
        UPDATE fence_guard SET fence = $2 WHERE lease = $1 AND fence <= $2 RETURNING fence
    )
    INSERT INTO events (lease, replica, holder, fence, seq, accepted)
    SELECT $1, $3, $4, $2, $5, EXISTS (SELECT 1 FROM guard)
    RETURNING accepted";

impl Poller {
    /// Writes the `seq`th row under `fence`, within the call timeout: `Ok(true)` accepted,
    /// `Ok(false)` refused by a later fence.
    async fn write(&self, fence: u64, seq: u64) -> Result<bool, BoxError> {
        let limit = self.config.call_timeout;
        let mut writer = self.writer.lock().await;
        let written = timeout(limit, async {
            if writer.as_ref().is_none_or(|w| w.client.is_closed()) {
                *writer = None;
                let (client, connection) = tokio_postgres::connect(&self.config.url, NoTls).await?;
                let task = tokio::spawn(async move {
                    let _ = connection.await;
                });
                let w = Writer {
                    client,
                    _task: AbortOnDropHandle::new(task),
                };
                w.client
                    .batch_execute(&format!("SET statement_timeout = {}", limit.as_millis()))
                    .await?;
                *writer = Some(w);
            }
            let client = &writer.as_ref().expect("connected").client;
            let fence = i64::try_from(fence)?;
            let seq = i64::try_from(seq)?;
            // Typed parameters: one round trip (no prepare first), so that the write is
            // sent whole with the first poll of the call.
            let rows = client
                .query_typed(
                    WRITE,
                    &[
                        (&self.config.lease, Type::TEXT),
                        (&fence, Type::INT8),
                        (&self.config.name, Type::TEXT),
                        (&self.config.holder, Type::TEXT),
                        (&seq, Type::INT8),
                    ],
                )
                .await?;
            let row = rows.first().ok_or("the write returned no row")?;
            Ok::<bool, BoxError>(row.get(0))
        })
        .await;
        match written {
            Ok(Ok(accepted)) => Ok(accepted),
            Ok(Err(err)) => {
                *writer = None;
                Err(err)
            }
            Err(_elapsed) => {
                *writer = None;
                Err(format!("timed out after {limit:?}").into())
            }
        }
    }

    /// Tells the parent when the runs of `term` are canceled, and why: a task of its own,
    /// so that the line comes when the context is canceled whatever the run is doing.
    fn watch(&self, term: &Term, ctx: &Context) {
        let (ctx, out, fence) = (ctx.clone(), self.out, term.fence());
        tokio::spawn(async move {
            ctx.done().await;
            let cause = ctx.cause();
            let lost = cause
                .as_deref()
                .and_then(|cause| cause.downcast_ref::<LeaseLost>());
            let reason = match lost.map(LeaseLost::reason) {
                Some(LossReason::NotHeld) => "not_held",
                Some(LossReason::RenewTimedOut { .. }) => "renew_timed_out",
                Some(LossReason::StoreFailed { .. }) => "store_failed",
                _ => "other",
            };
            let why = cause.map(|cause| cause.to_string().replace('\n', " "));
            out.line(format_args!(
                "lost {fence} {reason} {}",
                why.unwrap_or_default()
            ));
        });
    }
}

#[async_trait]
impl Runner for Poller {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let term = Term::current().ok_or("not in a singleton's run")?;
        let fence = term.fence();
        // Relaxed: the runs of one singleton are one after the other, on one task.
        if self.fence.swap(fence, Ordering::Relaxed) != fence {
            self.out.line(format_args!("leading {fence}"));
            self.watch(&term, &ctx);
        }
        if self.config.every.is_zero() {
            // A poller with nothing to write: it holds the lease until it is lost or the
            // replica drains.
            ctx.closing().await;
            return Ok(());
        }
        // Relaxed: a counter, as above.
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.out.line(format_args!("writing {fence} {seq}"));
        if !self.config.work.is_zero() {
            // Work that does not yield: see `Config::work`.
            std::thread::sleep(self.config.work);
        }
        match self.write(fence, seq).await {
            Ok(true) => self.out.line(format_args!("write {fence} {seq} ok")),
            Ok(false) => self.out.line(format_args!("write {fence} {seq} rejected")),
            Err(err) => {
                self.out
                    .line(format_args!("write {fence} {seq} error {}", one_line(&err)));
                return Err(err);
            }
        }
        async_tasks::sleep(&ctx, self.config.every).await?;
        Ok(())
    }

    fn name(&self) -> Option<&'static str> {
        Some("poller")
    }
}
