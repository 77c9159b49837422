//! [`PgServer`]: a throwaway PostgreSQL started from the system's binaries, for the tests.
//!
//! `initdb` into a fresh directory of the system's temp dir (trust authentication), then
//! `postgres` on a free loopback port (and a unix socket in that directory), with durability
//! switched off (`fsync`, `synchronous_commit`, `full_page_writes`): the data is thrown away.
//! Run as root, both run as the `postgres` system user (PostgreSQL refuses root), through
//! `Command::uid`/`gid`, so the process started is the server itself and can be paused.
//!
//! Stopping is the job of a *reaper*: a small shell started beside the server, as the same
//! user, that waits for its stdin to close, then resumes the server's processes (a test may
//! have paused them), stops it (`pg_ctl stop -m fast`, then SIGKILL if that fails) and
//! removes the directory. Its stdin is a pipe held by this process only, so it closes
//! however this process ends: a [`PgServer`] dropped (at the end of a test, or while a
//! failing test unwinds), the test binary exiting (the shared server of [`PgServer::shared`],
//! which is never dropped), or the binary killed.

use std::fs;
use std::marker::PhantomData;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

/// How long a server may take to start before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What to say when there is no server to start.
const INSTALL: &str = "the tests of async-tasks-postgres start their own throwaway PostgreSQL \
    from the system's binaries, and found none (looked in $ASYNC_TASKS_PG_BINDIR, \
    `pg_config --bindir` and /usr/lib/postgresql/*/bin): install them with \
    `apt-get install postgresql` (Debian, Ubuntu; `.ci/run` does it), or set \
    ASYNC_TASKS_PG_BINDIR to the directory that holds `postgres` and `initdb`";

/// Stops the server and removes its directory once stdin closes. `$1` the directory, `$2`
/// the binaries' directory. Every step is bounded: `pg_ctl` waits at most 20 s.
const REAPER: &str = r#"
cat >/dev/null
pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
    kill -CONT "$pid" 2>/dev/null
    command -v pkill >/dev/null && pkill -CONT -P "$pid"
    "$2/pg_ctl" stop -D "$1/data" -m fast -w -t 20 >/dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
"#;

/// A PostgreSQL server of its own, stopped and removed when dropped.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    /// The postmaster.
    server: Mutex<Child>,
    /// The reaper, and the pipe to its stdin that keeps it waiting.
    reaper: Mutex<Option<(Child, ChildStdin)>>,
}

/// Who runs the server: `None` for this process's user, else the `postgres` user's ids.
type RunAs = Option<(u32, u32)>;

impl PgServer {
    /// The server shared by every test of this test binary, started by the first that asks.
    /// Tests keep apart by using tables of their own; it is stopped when the binary exits.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// A server of its own, for a test that pauses or stops it.
    ///
    /// # Panics
    ///
    /// No PostgreSQL binaries are found (with how to install them), or the server does not
    /// start within a minute (with its log).
    pub fn start() -> PgServer {
        let bin = bindir();
        let run_as = run_as();
        let dir = make_dir(run_as);
        let reaper = reaper(&dir, &bin, run_as);

        let data = dir.join("data");
        let log = dir.join("initdb.log");
        let status = as_user(Command::new(bin.join("initdb")), run_as)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(file(&log))
            .stderr(file(&log))
            .status()
            .expect("run initdb");
        assert!(
            status.success(),
            "initdb failed ({status}):\n{}",
            read(&log)
        );

        // A port free a moment ago can be taken meanwhile (another test binary, another
        // worktree's tests): a few tries.
        let log = dir.join("postgres.log");
        for attempt in 1.. {
            let port = free_port();
            let mut server = as_user(Command::new(bin.join("postgres")), run_as)
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-k"])
                .arg(&dir)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                .args([
                    "-c",
                    "max_connections=200",
                    "-c",
                    "log_min_messages=warning",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file(&log))
                .spawn()
                .expect("run postgres");
            match wait_ready(&mut server, &data) {
                Ok(()) => {
                    return PgServer {
                        port,
                        dir,
                        server: Mutex::new(server),
                        reaper: Mutex::new(Some(reaper)),
                    };
                }
                Err(exited) if attempt < 5 && read(&log).contains("could not bind") => {
                    eprintln!("postgres could not bind port {port} ({exited}): trying another");
                }
                Err(why) => {
                    let _ = server.kill();
                    panic!("postgres did not start: {why}:\n{}", read(&log));
                }
            }
        }
        unreachable!()
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the database `postgres` as the superuser, whose sessions carry
    /// `application_name` (to find them in `pg_stat_activity`).
    pub fn url(&self, application_name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?application_name={application_name}",
            self.port
        )
    }

    /// A URL for the same database through `port` (a proxy's) instead of the server's.
    pub fn url_via(&self, port: u16, application_name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres?application_name={application_name}")
    }

    /// A client of its own, its connection driven on the current runtime.
    pub async fn client(&self, application_name: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url(application_name), NoTls)
            .await
            .expect("connect to the test server");
        tokio::spawn(connection);
        client
    }

    /// Ends every session whose `application_name` is `application_name`, as an
    /// administrator would (`pg_terminate_backend`); returns how many it ended.
    pub async fn terminate(&self, application_name: &str) -> usize {
        let admin = self.client("harness-admin").await;
        let rows = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&application_name],
            )
            .await
            .expect("terminate backends");
        rows.len()
    }

    /// The server processes of the sessions whose `application_name` is `application_name`.
    pub async fn backends(&self, application_name: &str) -> Vec<i32> {
        let admin = self.client("harness-admin").await;
        admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                &[&application_name],
            )
            .await
            .expect("list backends")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Freezes the whole server (SIGSTOP to the postmaster, then to each of its processes):
    /// it accepts nothing and answers nothing until the guard is dropped (SIGCONT).
    pub fn pause(&self) -> Paused<'_> {
        let postmaster = self.server.lock().unwrap().id();
        // The postmaster first, so that it starts no process once its children are listed.
        // A backend may have ended since it was listed: `kill` then fails for that one
        // only, and still signals the others, so whether all got it says nothing useful.
        signal("STOP", &[postmaster]);
        signal("STOP", &children(postmaster));
        Paused {
            postmaster,
            _server: PhantomData,
        }
    }

    /// What the server has logged so far (warnings and errors), for a failing test to show.
    pub fn log(&self) -> String {
        read(&self.dir.join("postgres.log"))
    }
}

/// A paused server; dropping it resumes the server.
#[must_use = "the server resumes as soon as this is dropped"]
pub struct Paused<'a> {
    postmaster: u32,
    /// Ties the guard to its server: it is resumed before it is stopped.
    _server: PhantomData<&'a PgServer>,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        signal("CONT", &children(self.postmaster));
        signal("CONT", &[self.postmaster]);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let reaper = self
            .reaper
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((mut reaper, stdin)) = reaper {
            drop(stdin); // the reaper stops the server and removes the directory
            let _ = reaper.wait();
        }
        let server = self.server.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = server.wait();
    }
}

/// The directory of `postgres` and `initdb`.
fn bindir() -> PathBuf {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("ASYNC_TASKS_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        assert!(
            has_server(&dir),
            "{INSTALL} ({} has no server)",
            dir.display()
        );
        return dir;
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    // The newest major version first.
    let mut installed: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    installed.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    from_pg_config
        .into_iter()
        .chain(installed.into_iter().map(|(_, dir)| dir))
        .find(|dir| has_server(dir))
        .unwrap_or_else(|| panic!("{INSTALL}"))
}

/// The ids of the `postgres` user when this process is root (the server refuses root).
fn run_as() -> RunAs {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        out.status.success().then_some(())?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"]) != Some(0) {
        return None;
    }
    match (id(&["-u", "postgres"]), id(&["-g", "postgres"])) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!(
            "running as root, and there is no `postgres` user to run the test server as \
             (PostgreSQL refuses root): `apt-get install postgresql` creates it"
        ),
    }
}

fn as_user(mut command: Command, run_as: RunAs) -> Command {
    if let Some((uid, gid)) = run_as {
        // Also drops root's supplementary groups (std calls `setgroups` when root).
        command.uid(uid).gid(gid);
    }
    command
}

/// A new directory in the temp dir, owned by whoever runs the server, and kept: the
/// reaper removes it once the server is gone.
fn make_dir(run_as: RunAs) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("async-tasks-pg-")
        .tempdir()
        .expect("create the server's directory")
        .keep();
    if let Some((uid, gid)) = run_as {
        chown(&dir, Some(uid), Some(gid)).expect("give the server its directory");
    }
    dir
}

/// Starts the reaper of the server in `dir`.
fn reaper(dir: &Path, bin: &Path, run_as: RunAs) -> (Child, ChildStdin) {
    let mut reaper = as_user(Command::new("sh"), run_as)
        .args(["-c", REAPER, "async-tasks-pg-reaper"])
        .arg(dir)
        .arg(bin)
        .stdin(Stdio::piped())
        // Nothing of the test binary's output: whoever reads it must not wait for the reaper.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the reaper");
    let stdin = reaper.stdin.take().expect("piped");
    (reaper, stdin)
}

/// Waits until the postmaster says it is ready (its pid file's status line), polling with a
/// bound; `Err` if it exits or takes too long.
fn wait_ready(server: &mut Child, data: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = server.try_wait().expect("wait for postgres") {
            return Err(format!("it exited ({status})"));
        }
        let pid_file = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if pid_file
            .lines()
            .nth(7)
            .is_some_and(|status| status.trim() == "ready")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid ...`: the command can hold spaces and parentheses, so
            // read after the last `)`.
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Sends SIGname (`KILL`, `STOP`, `CONT`, `TERM`) to `pids`, processes this test started;
/// whether every one of them got it.
pub fn signal(name: &str, pids: &[u32]) -> bool {
    if pids.is_empty() {
        return true;
    }
    Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status()
        .expect("run kill")
        .success()
}

fn file(path: &Path) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
}

fn read(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text
    }
}
