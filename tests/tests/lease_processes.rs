//! `FileLeases` across OS processes: several processes race for one lease in one
//! directory, and one is killed (`SIGKILL`) in the middle of its operations.
//!
//! The test binary runs itself again as the children: [`current_exe`] with the test's own
//! name, `--exact`, and the environment variable [`HOLDER`] set to the child's holder id.
//! Seeing it, the same test fn plays a child: it reads commands from its stdin, one a
//! line, and answers each on its stdout in a line that starts with [`ANSWER`] (libtest's
//! own lines are skipped). The parent drives rounds through these pipes, so nothing waits
//! on the clock: every wait for an answer is bounded by [`LIMIT`], after which the test
//! fails and its children are killed (as they are whenever the parent fails).

use std::collections::VecDeque;
use std::env::{self, current_exe};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use async_tasks::lease::{FileLeases, LeaseStore, Term};

/// Set in a child: its holder id. The directory is in [`DIR`].
const HOLDER: &str = "ASYNC_TASKS_LEASE_CHILD";
const DIR: &str = "ASYNC_TASKS_LEASE_DIR";
/// What a child's answers start with, to tell them from libtest's output.
const ANSWER: &str = "lease-child: ";
/// How long a whole test may take, children included.
const LIMIT: Duration = Duration::from_secs(120);
/// Long enough that no term expires during a test: a lease moves only when released.
const TTL: Duration = Duration::from_secs(600);

#[test]
fn file_leases_grant_one_term_per_round_across_processes() {
    const PROCESSES: usize = 4;
    const ROUNDS: usize = 25;
    if let Some(child) = Role::from_env() {
        return child.serve();
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut fleet = Fleet::start(
        "file_leases_grant_one_term_per_round_across_processes",
        PROCESSES,
        dir.path(),
    );
    let mut last_fence = 0;
    let mut wins = [0; PROCESSES];
    for round in 0..ROUNDS {
        // Each child tries three times in a row, all of them at once; the order they are
        // told in turns, so that a different one is first each round.
        for i in (0..PROCESSES).map(|i| (i + round) % PROCESSES) {
            fleet.send(i, "acquire outbox 3");
        }
        let answers: Vec<String> = (0..PROCESSES).map(|i| fleet.answer(i)).collect();
        let winners: Vec<(usize, u64)> = answers
            .iter()
            .enumerate()
            .filter_map(|(i, answer)| Some((i, answer.strip_prefix("won ")?.parse().ok()?)))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        assert_eq!(
            answers.iter().filter(|answer| *answer == "lost").count(),
            PROCESSES - 1,
            "round {round}: {answers:?}"
        );
        let (winner, fence) = winners[0];
        assert!(
            fence > last_fence,
            "round {round}: fence {fence} after {last_fence}"
        );
        // One grant per round, all of them seen: the fences are consecutive.
        assert_eq!(fence, last_fence + 1, "round {round}");
        last_fence = fence;
        wins[winner] += 1;
        fleet.send(winner, "release");
        assert_eq!(fleet.answer(winner), "released");
    }
    eprintln!("wins per process over {ROUNDS} rounds: {wins:?}");
    fleet.finish();
}

#[test]
fn a_process_killed_mid_operation_leaves_the_lease_usable() {
    if let Some(child) = Role::from_env() {
        return child.serve();
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut fleet = Fleet::start(
        "a_process_killed_mid_operation_leaves_the_lease_usable",
        3,
        dir.path(),
    );
    // Child 0 acquires, renews and releases without end, until it is killed at whatever
    // point of an operation it is in (most of its time is spent in them: locking,
    // writing, flushing, renaming). The others do the same, a bounded number of times.
    fleet.send(0, &format!("churn churn {}", u64::MAX));
    assert_eq!(fleet.answer(0), "churning");
    fleet.send(1, "churn churn 100");
    fleet.send(2, "churn churn 100");
    fleet.kill(0);
    for i in [1, 2] {
        assert_eq!(fleet.answer(i), "churning");
        assert_eq!(fleet.answer(i), "churned");
    }
    // After its death, every operation of the others still reads a whole lease file and
    // takes the lock its death released.
    for i in [1, 2] {
        fleet.send(i, "churn churn 20");
    }
    for i in [1, 2] {
        assert_eq!(fleet.answer(i), "churning");
        assert_eq!(fleet.answer(i), "churned");
    }
    // And a lease it never touched still goes to exactly one of them.
    fleet.send(1, "acquire other 1");
    fleet.send(2, "acquire other 1");
    let mut answers = [fleet.answer(1), fleet.answer(2)];
    answers.sort();
    assert_eq!(answers, ["lost".to_owned(), "won 1".to_owned()]);
    fleet.finish();
}

/// A child: its holder id and the directory of leases.
struct Role {
    holder: String,
    dir: PathBuf,
}

impl Role {
    fn from_env() -> Option<Role> {
        Some(Role {
            holder: env::var(HOLDER).ok()?,
            dir: env::var_os(DIR).expect("the directory").into(),
        })
    }

    /// Answers the parent's commands until its stdin closes:
    /// - `acquire NAME N`: tries N times to take `NAME`; `won FENCE` or `lost`;
    /// - `release`: releases what the last `acquire` won; `released`;
    /// - `churn NAME N`: N times, takes `NAME` if it can, renews it and releases it;
    ///   `churning` after the first time, `churned` at the end.
    ///
    /// Any store error fails the child (its stdout ends without an answer).
    fn serve(self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let leases = FileLeases::new(&self.dir).expect("the directory");
        let mut held: Option<Term> = None;
        let answer = |text: &str| {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{ANSWER}{text}").expect("stdout");
            out.flush().expect("stdout");
        };
        for line in std::io::stdin().lock().lines() {
            let line = line.expect("stdin");
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["acquire", name, tries] => {
                    let mut won: Option<Term> = None;
                    for _ in 0..tries.parse::<u32>().expect("a count") {
                        let term = rt.block_on(leases.try_acquire(name, &self.holder, TTL));
                        if let Some(term) = term.expect("try_acquire") {
                            assert!(won.is_none(), "granted twice to {}", self.holder);
                            won = Some(term);
                        }
                    }
                    match &won {
                        Some(term) => answer(&format!("won {}", term.fence())),
                        None => answer("lost"),
                    }
                    held = won;
                }
                ["release"] => {
                    let term = held.take().expect("a term to release");
                    rt.block_on(leases.release(&term)).expect("release");
                    answer("released");
                }
                ["churn", name, times] => {
                    for i in 0..times.parse::<u64>().expect("a count") {
                        let term = rt.block_on(leases.try_acquire(name, &self.holder, TTL));
                        if let Some(term) = term.expect("try_acquire") {
                            assert!(rt.block_on(leases.renew(&term, TTL)).expect("renew"));
                            rt.block_on(leases.release(&term)).expect("release");
                        }
                        if i == 0 {
                            answer("churning");
                        }
                    }
                    answer("churned");
                }
                _ => panic!("unknown command {line:?}"),
            }
        }
    }
}

/// The children of one test, their pipes, and the answers they gave that no one read yet.
struct Fleet {
    children: Vec<Option<Child>>,
    stdins: Vec<Option<ChildStdin>>,
    /// Each answer line, by child; `None` when a child's stdout ended.
    lines: Receiver<(usize, Option<String>)>,
    unread: Vec<VecDeque<String>>,
    ended: Vec<bool>,
    deadline: Instant,
}

impl Fleet {
    /// Starts `n` children that run the test `test` in the role of a child, on `dir`.
    fn start(test: &str, n: usize, dir: &Path) -> Fleet {
        let exe = current_exe().expect("the test binary");
        let (tx, lines) = mpsc::channel();
        let mut fleet = Fleet {
            children: Vec::new(),
            stdins: Vec::new(),
            lines,
            unread: vec![VecDeque::new(); n],
            ended: vec![false; n],
            deadline: Instant::now() + LIMIT,
        };
        for i in 0..n {
            let mut child = Command::new(&exe)
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(HOLDER, format!("process-{i}"))
                .env(DIR, dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("a child process");
            fleet.stdins.push(child.stdin.take());
            let stdout = child.stdout.take().expect("its stdout");
            fleet.children.push(Some(child));
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // libtest writes `test NAME ... ` before the test runs, with no line
                    // end: the first answer follows it on the same line.
                    if let Some(at) = line.find(ANSWER) {
                        let answer = &line[at + ANSWER.len()..];
                        let _ = tx.send((i, Some(answer.to_owned())));
                    }
                }
                let _ = tx.send((i, None));
            });
        }
        fleet
    }

    fn send(&mut self, i: usize, command: &str) {
        let stdin = self.stdins[i].as_mut().expect("a live child");
        writeln!(stdin, "{command}").expect("the child's stdin");
        stdin.flush().expect("the child's stdin");
    }

    /// The next answer of child `i`.
    ///
    /// # Panics
    ///
    /// If it ended without answering, or if the test's time is up.
    fn answer(&mut self, i: usize) -> String {
        loop {
            if let Some(answer) = self.unread[i].pop_front() {
                return answer;
            }
            assert!(
                !self.ended[i],
                "child {i} ended without answering (see its stderr)"
            );
            self.receive();
        }
    }

    /// Waits for the next line of any child.
    fn receive(&mut self) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok((child, Some(answer))) => self.unread[child].push_back(answer),
            Ok((child, None)) => self.ended[child] = true,
            Err(err) => panic!("the children did not answer within {LIMIT:?}: {err}"),
        }
    }

    /// Kills child `i` (`SIGKILL` on Unix) and waits for its end.
    fn kill(&mut self, i: usize) {
        self.stdins[i] = None;
        let mut child = self.children[i].take().expect("a live child");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    /// Closes the children's stdins, and checks that each (but those killed) then ended
    /// cleanly.
    fn finish(mut self) {
        self.stdins.iter_mut().for_each(|stdin| *stdin = None);
        for i in 0..self.children.len() {
            let Some(mut child) = self.children[i].take() else {
                continue;
            };
            while !self.ended[i] {
                self.receive();
            }
            assert!(self.unread[i].is_empty(), "child {i}: {:?}", self.unread[i]);
            let status = child.wait().expect("wait");
            assert!(status.success(), "child {i} ended with {status}");
        }
    }
}

impl Drop for Fleet {
    /// A test that failed leaves no child behind.
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::as_mut) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
