//! `Tasks::run_singleton` on `PgLeases`, proven against a real server with real faults,
//! each replica a separate OS process.
//!
//! ```sh
//! cargo test -p async-tasks-postgres --test singleton              # the fault suite
//! cargo test -p async-tasks-postgres --test singleton -- kill      # one test (a filter)
//! cargo test -p async-tasks-postgres --test singleton -- --ignored # the measurements
//! ```
//!
//! # The binary
//!
//! `harness = false`: this one binary is both the suite and its replicas. Run as `<binary>
//! replica --url .. --lease .. --holder ..`, it is one replica of a service
//! ([`replica`]: `PgLeases` + `Tasks::run_singleton` of a poller that writes a row fenced
//! by its term each iteration, telling what happens on its stdout, one line per event);
//! run any other way, it runs the suite ([`runner`], which reads `cargo test`'s arguments).
//! A test finds its replicas' binary as `current_exe()`, with nothing else to build.
//!
//! Why one binary: a `[[bin]]` would ship with the published crate (it is the only target
//! whose path a test is given, `CARGO_BIN_EXE_*`), and a second `[[test]]` target can be
//! neither found by a path nor built on demand from inside a test (`cargo test --test
//! singleton` builds this target only). A libtest binary rerun as children with a filter
//! (as `tests/tests/lease_processes.rs` does) would take the replica's settings from the
//! environment rather than a command line, and print libtest's lines among its own.
//!
//! # The tests
//!
//! Each test starts its replicas ([`fleet`]) on a lease of its own, with short timings (ttl
//! 3 s, renew_deadline 2 s, retry_every 500 ms), injects its fault (SIGKILL, SIGSTOP of a
//! replica or of the database, a connection black-holed by the harness's `Proxy`,
//! SIGTERM), waits for the lines that must follow (never for the clock), measures from the
//! lines' times, and ends with the [`history`] checker reading what the replicas wrote. The
//! server is the binary's shared one, except for the test that freezes it.

mod faults;
mod fleet;
mod handover;
mod history;
mod measure;
mod replica;
mod runner;
#[path = "../support/mod.rs"]
mod support;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use async_tasks_postgres::PgLeases;
use support::PgServer;

/// The lease's timings in every test (the replicas' defaults, see `replica::Config`).
pub const TTL: Duration = Duration::from_secs(3);
pub const RENEW_DEADLINE: Duration = Duration::from_secs(2);
pub const RETRY_EVERY: Duration = Duration::from_millis(500);
/// What a measured time may take past its bound: a statement's round trip, and the
/// scheduling of many processes on two shared cores.
pub const SLACK: Duration = Duration::from_millis(750);
/// How long replicas may take to start, connect and elect a first leader.
pub const START: Duration = Duration::from_secs(20);

/// The suite: `module::function` names each test.
macro_rules! tests {
    (@ignored) => { None };
    (@ignored $why:literal) => { Some($why) };
    ($($module:ident :: $name:ident $(= ignored($why:literal))?),* $(,)?) => {
        &[$(runner::Test {
            name: concat!(stringify!($module), "::", stringify!($name)),
            run: $module::$name,
            ignored: tests!(@ignored $($why)?),
        }),*]
    };
}

const TESTS: &[runner::Test] = tests![
    faults::kill_9_the_leader,
    faults::sigstop_the_leader_past_its_ttl,
    faults::sigstop_the_leader_between_iterations,
    faults::sigstop_the_database_past_the_renew_deadline,
    faults::cut_one_replicas_connection,
    handover::five_replicas_race_from_cold,
    handover::a_drain_hands_over_within_retry_every,
    handover::two_replicas_with_one_holder_id,
    measure::handovers_and_statements_per_second =
        ignored("a measurement for BENCHMARKS.md: run it by hand"),
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("replica") {
        args.next();
        return replica::main(args);
    }
    runner::main(TESTS, args)
}

/// Runs `test` on a runtime of its own, failing it past `limit`.
pub fn block_on(limit: Duration, test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(support::within(limit, test));
}

/// An administrator's client of `server`, with the store's table and the history's tables
/// created, and the guard row of `lease`.
pub async fn prepare(server: &PgServer, lease: &str) -> tokio_postgres::Client {
    let store = PgLeases::connect(&server.url("harness-migrate"))
        .await
        .expect("connect a store");
    store.migrate().await.expect("create the lease table");
    let admin = server.client("harness-admin").await;
    history::prepare(&admin, lease).await;
    admin
}

/// Prints a measurement or a step, with the test it belongs to.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        eprintln!(
            "[{}] {}",
            std::thread::current().name().unwrap_or("?"),
            format_args!($($arg)*)
        )
    };
}
