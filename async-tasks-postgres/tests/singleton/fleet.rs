//! The parent's side: replicas started as child processes of this binary
//! (`<this binary> replica ...`), their lines gathered in one log, waits on that log, and
//! signals.
//!
//! Every wait is for a line, bounded: past its limit the test fails with the replicas'
//! recent lines. A replica is killed when its handle drops (`kill_on_drop`), and drains by
//! itself when its stdin closes, so none outlives a test, failed or not.

use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

use crate::replica::Config;

/// One line a replica wrote (or, with `kind` `stderr`, one line of its stderr).
#[derive(Clone, Debug)]
pub struct Line {
    /// The replica's index in its fleet.
    pub replica: usize,
    /// When it happened, by the replica's clock (the host's).
    pub at: SystemTime,
    pub kind: String,
    pub args: Vec<String>,
}

impl Line {
    /// The `i`th argument as a number.
    pub fn num(&self, i: usize) -> u64 {
        self.args
            .get(i)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or_else(|| panic!("argument {i} of {self} is not a number"))
    }

    /// The `i`th argument, or "".
    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }

    /// Whether it is `kind` with these first arguments.
    pub fn is(&self, kind: &str, args: &[&str]) -> bool {
        self.kind == kind && args.iter().zip(&self.args).all(|(want, got)| want == got)
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.duration_since(UNIX_EPOCH).unwrap_or_default();
        write!(
            f,
            "[{}] {:.3} {} {}",
            self.replica,
            at.as_secs_f64(),
            self.kind,
            self.args.join(" ")
        )
    }
}

/// The lines of every replica of a fleet, in the order the parent read them, and a counter
/// that moves with each.
#[derive(Clone)]
struct Log {
    lines: Arc<Mutex<Vec<Line>>>,
    count: watch::Sender<usize>,
}

impl Log {
    fn push(&self, line: Line) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.push(line);
        self.count.send_replace(lines.len());
    }
}

/// A replica: its process and its stdin.
pub struct Replica {
    pub name: String,
    pub pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Replicas started by one test, and the log of all their lines.
pub struct Fleet {
    pub replicas: Vec<Replica>,
    log: Log,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet {
            replicas: Vec::new(),
            log: Log {
                lines: Arc::default(),
                count: watch::Sender::new(0),
            },
        }
    }

    /// Starts a replica with `config`; its index.
    pub fn start(&mut self, config: &Config) -> usize {
        let index = self.replicas.len();
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .arg("replica")
            .args(config.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start a replica");
        let pid = child.id().expect("a running replica");
        tokio::spawn(read(
            index,
            child.stdout.take().expect("piped"),
            self.log.clone(),
            false,
        ));
        tokio::spawn(read(
            index,
            child.stderr.take().expect("piped"),
            self.log.clone(),
            true,
        ));
        let stdin = child.stdin.take();
        self.replicas.push(Replica {
            name: config.name.clone(),
            pid,
            child,
            stdin,
        });
        index
    }

    /// How many lines were read so far: a place in the log to wait from.
    pub fn mark(&self) -> usize {
        self.log
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Every line read so far.
    pub fn lines(&self) -> Vec<Line> {
        self.log
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The lines read since `mark` that `matches` picks.
    pub fn since(&self, mark: usize, matches: impl Fn(&Line) -> bool) -> Vec<Line> {
        self.lines()[mark..]
            .iter()
            .filter(|line| matches(line))
            .cloned()
            .collect()
    }

    /// The first line read since `mark` that `matches` picks, waiting up to `limit` for it.
    ///
    /// # Panics
    ///
    /// None came within `limit`: with what was waited for, and the replicas' lines.
    pub async fn wait(
        &self,
        mark: usize,
        limit: Duration,
        what: &str,
        matches: impl Fn(&Line) -> bool,
    ) -> Line {
        let mut count = self.log.count.subscribe();
        let found = tokio::time::timeout(limit, async {
            let mut from = mark;
            loop {
                {
                    let lines = self.log.lines.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(line) = lines[from..].iter().find(|line| matches(line)) {
                        return line.clone();
                    }
                    from = lines.len();
                }
                count
                    .changed()
                    .await
                    .expect("the log lives as long as the fleet");
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no {what} within {limit:?}; the replicas said:\n{}",
                self.tail(60)
            )
        })
    }

    /// The last `n` lines, one a line, for a failure's message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let from = lines.len().saturating_sub(n);
        lines[from..]
            .iter()
            .map(|line| format!("  {line}\n"))
            .collect()
    }

    /// Sends SIGname (`KILL`, `STOP`, `CONT`, `TERM`) to replica `i`, a process this test
    /// started; when it was sent.
    pub fn signal(&self, i: usize, name: &str) -> SystemTime {
        let at = SystemTime::now();
        let pid = self.replicas[i].pid;
        assert!(
            crate::support::signal(name, &[pid]),
            "kill -{name} {pid} failed"
        );
        at
    }

    /// Waits up to `limit` for replica `i` to exit.
    pub async fn exit(&mut self, i: usize, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.replicas[i].child.wait()).await {
            Ok(status) => status.expect("wait for a replica"),
            Err(_) => panic!(
                "replica {i} did not exit within {limit:?}:\n{}",
                self.tail(40)
            ),
        }
    }

    /// Drains every replica still running (SIGTERM, all at once) and waits for each to exit
    /// cleanly: a replica that did not drain fails the test.
    pub async fn drain_all(&mut self, limit: Duration) {
        let running: Vec<usize> = (0..self.replicas.len())
            .filter(|&i| self.replicas[i].child.try_wait().ok().flatten().is_none())
            .collect();
        for &i in &running {
            self.signal(i, "TERM");
        }
        for i in running {
            let status = self.exit(i, limit).await;
            assert!(
                status.success(),
                "replica {i} ended with {status}:\n{}",
                self.tail(40)
            );
        }
    }

    /// Writes `line` to replica `i`'s stdin (`drain` is the one command).
    pub async fn tell(&mut self, i: usize, line: &str) {
        let stdin = self.replicas[i]
            .stdin
            .as_mut()
            .expect("the replica's stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to a replica");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the replicas said:\n{}", self.tail(200));
        }
        // Each child is killed as it drops (`kill_on_drop`).
    }
}

/// Reads the lines of one replica's stdout (or stderr) into the log until it closes.
async fn read(replica: usize, from: impl AsyncRead + Unpin, log: Log, stderr: bool) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        let line = if stderr {
            Line {
                replica,
                at: SystemTime::now(),
                kind: "stderr".to_owned(),
                args: vec![text],
            }
        } else {
            parse(replica, &text).unwrap_or_else(|| Line {
                replica,
                at: SystemTime::now(),
                kind: "unparsed".to_owned(),
                args: vec![text],
            })
        };
        log.push(line);
    }
}

/// `MICROS KIND ARGS...`.
fn parse(replica: usize, text: &str) -> Option<Line> {
    let mut words = text.split(' ');
    let micros: u64 = words.next()?.parse().ok()?;
    let kind = words.next()?.to_owned();
    Some(Line {
        replica,
        at: UNIX_EPOCH + Duration::from_micros(micros),
        kind,
        args: words.map(str::to_owned).collect(),
    })
}
