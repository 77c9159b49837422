//! A small stand-in for libtest, for a `harness = false` binary: runs the suite's tests, each
//! on a thread of its own, a few at a time, and reports them as `cargo test` does (one line
//! per test, failures with their panic, a `test result:` line, a non-zero exit on failure).
//!
//! It understands the arguments `cargo test` passes on: name filters (substrings, or whole
//! names with `--exact`), `--skip`, `--ignored` / `--include-ignored`, `--list`,
//! `--test-threads`; it accepts and ignores `--nocapture`, `--show-output`, `--quiet`,
//! `--color` (output is never captured: each test's notes carry its name).

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// One test: a name, a function that panics on failure, and why it is ignored, if it is.
pub struct Test {
    pub name: &'static str,
    pub run: fn(),
    pub ignored: Option<&'static str>,
}

/// What to run, from the command line.
struct Args {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    ignored: bool,
    include_ignored: bool,
    list: bool,
    threads: usize,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Args {
        let mut parsed = Args {
            filters: Vec::new(),
            skip: Vec::new(),
            exact: false,
            ignored: false,
            include_ignored: false,
            list: false,
            // The tests mostly wait on their replicas: a few at a time, not one per core.
            threads: 4,
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |flag: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--exact" => parsed.exact = true,
                "--ignored" => parsed.ignored = true,
                "--include-ignored" => parsed.include_ignored = true,
                "--list" => parsed.list = true,
                "--skip" => parsed.skip.push(value("--skip")),
                "--test-threads" => {
                    parsed.threads = value("--test-threads")
                        .parse()
                        .expect("--test-threads takes a number");
                }
                "--color" | "--format" | "-Z" | "--logfile" => drop(value(&flag)),
                _ if flag.starts_with('-') => {} // --nocapture, --show-output, --quiet, ...
                _ => parsed.filters.push(arg),
            }
        }
        parsed.threads = parsed.threads.max(1);
        parsed
    }

    fn selects(&self, test: &Test) -> bool {
        let named = |filter: &String| {
            if self.exact {
                test.name == filter
            } else {
                test.name.contains(filter.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(named))
            && !self
                .skip
                .iter()
                .any(|skip| test.name.contains(skip.as_str()))
    }

    fn runs(&self, test: &Test) -> bool {
        self.include_ignored || self.ignored == test.ignored.is_some()
    }
}

/// Runs the tests that the command line selects; the exit code says whether all passed.
pub fn main(tests: &[Test], args: impl Iterator<Item = String>) -> ExitCode {
    let args = Args::parse(args);
    let selected: Vec<&Test> = tests.iter().filter(|test| args.selects(test)).collect();
    if args.list {
        for test in &selected {
            println!("{}: test", test.name);
        }
        println!("\n{} tests, 0 benchmarks", selected.len());
        return ExitCode::SUCCESS;
    }
    let (run, ignored): (Vec<&Test>, Vec<&Test>) =
        selected.into_iter().partition(|test| args.runs(test));
    let filtered_out = tests.len() - run.len() - ignored.len();
    println!("\nrunning {} tests", run.len() + ignored.len());
    for test in &ignored {
        println!(
            "test {} ... ignored, {}",
            test.name,
            test.ignored.unwrap_or("")
        );
    }

    let started = Instant::now();
    let queue = Arc::new(Mutex::new(
        run.iter()
            .map(|test| (test.name, test.run))
            .collect::<VecDeque<_>>(),
    ));
    let (done, results) = mpsc::channel();
    let workers: Vec<_> = (0..args.threads.min(run.len()))
        .map(|_| {
            let (queue, done) = (Arc::clone(&queue), done.clone());
            std::thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((name, test)) = next else { return };
                    let outcome = std::thread::Builder::new()
                        .name(name.to_owned())
                        .spawn(test)
                        .expect("start a test's thread")
                        .join();
                    let _ = done.send((name, outcome.is_ok()));
                }
            })
        })
        .collect();
    drop(done);
    let mut failed = Vec::new();
    for (name, passed) in results {
        println!("test {name} ... {}", if passed { "ok" } else { "FAILED" });
        if !passed {
            failed.push(name);
        }
    }
    for worker in workers {
        worker.join().expect("a worker of the runner");
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; {} ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        run.len() - failed.len(),
        failed.len(),
        ignored.len(),
        started.elapsed().as_secs_f64(),
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
