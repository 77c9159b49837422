//! [`shutdown_on_signals`] (and `Tasks::shutdown_on_signals`): the context a service's
//! `main` stops on, canceled by SIGINT or SIGTERM (Ctrl-C on Windows); a second signal
//! exits the process at once — after one ERROR line naming the tasks still running, when a
//! set is watched.
//!
//! The policy lives in [`watch`], which takes the signals as a stream and the exit as a
//! closure, so that it is tested with channels; the public function only plugs tokio's
//! signal streams and `std::process::exit` into it.
//!
//! Invariants:
//! - the OS handlers are installed before `shutdown_on_signals` returns, so a signal that
//!   arrives right after is caught, never the default action (which kills the process);
//! - the first signal only cancels; only a second one exits.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::{Stream, StreamExt};

use super::set::Set;
use super::shutdown::write_names;
use super::wait::running_names;
use crate::context::{CancelHandle, Context};
use crate::fields;

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGINT (Ctrl-C in a terminal); Ctrl-C on Windows.
    Interrupt,
    /// SIGTERM (what `kill`, systemd, Docker and Kubernetes send to stop a process).
    #[cfg_attr(not(unix), allow(dead_code))]
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt if cfg!(unix) => "SIGINT",
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The shell's convention for a process ended by this signal: 128 + its number.
    fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// A context for a service's `main`: canceled on the first SIGINT or SIGTERM (Ctrl-C on
/// Windows); a second signal exits the process at once.
///
/// Installs the signal handlers before it returns, then spawns a small watcher task on the
/// current runtime:
///
/// - the **first** signal cancels the returned context and logs an INFO event naming it
///   (target `async_tasks`, `signal = "SIGTERM"`): the service's signal to stop;
/// - a **second** signal, for an operator whose patience ran out, logs a WARN event and
///   calls [`std::process::exit`] with 130 for SIGINT (and Ctrl-C) or 143 for SIGTERM,
///   the codes a shell reports for a process killed by those signals. `exit` runs no
///   destructors and flushes no buffered writers.
///
/// Use the returned context as the signal to stop, not as the tasks' context: give the tasks
/// a context of their own (say [`Context::background`]), wait for this one to be done, then
/// [`drain`](crate::task::Tasks::drain) the tasks (the work in flight finishes, nothing new
/// starts, a loop ends after its current iteration) and
/// [`shutdown_report`](crate::task::Tasks::shutdown_report) what is left. Handing this context to
/// the tasks instead cancels all of them at the first signal, cutting the work in flight.
///
/// Once installed, the handlers stay for the life of the process (tokio never uninstalls
/// them): SIGINT and SIGTERM no longer kill the process by themselves, only this watcher
/// does. Calling this function again adds another context and watcher; each one cancels
/// on the first signal and exits on the second.
///
/// Needs the `signal` feature (on by default).
///
/// # Panics
///
/// Panics if called outside a tokio runtime, or in one built without its IO and signal
/// driver (`Builder::enable_io` or `enable_all`; `#[tokio::main]` enables it), or if the
/// OS refuses to install the handlers.
///
/// # Examples
///
/// A service's `main` (`#[tokio::main]`):
///
/// ```
/// use std::time::Duration;
/// use async_tasks::{shutdown_on_signals, Context, Func, Tasks};
/// use async_tasks::task::LoopPolicy;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let stop = shutdown_on_signals();
/// let tasks = Tasks::new("service");
/// tasks.run_loop_with(
///     &Context::background(),
///     Func::named("poll", |_ctx| async move {
///         // ... one round of work, which a drain lets finish ...
///         Ok(())
///     }),
///     LoopPolicy::every(Duration::from_secs(5)),
/// );
///
/// // Until the first SIGINT / SIGTERM (for this example's sake, at most a minute).
/// tokio::select! {
///     () = stop.done() => {}
///     () = tokio::time::sleep(Duration::from_secs(60)) => {}
/// }
/// if let Err(stragglers) = tasks.drain(Duration::from_secs(20)).await {
///     eprintln!("drain timed out: {stragglers}");
/// }
/// let report = tasks.shutdown_report(Duration::from_secs(5)).await;
/// eprintln!("{report}");
/// # }
/// ```
#[must_use = "the returned context is what the signals cancel"]
#[track_caller]
pub fn shutdown_on_signals() -> Context {
    watch_signals(None)
}

/// [`shutdown_on_signals`], whose second signal names what still runs in `set` (and its
/// descendants) in the ERROR line it exits after: `Tasks::shutdown_on_signals`.
#[track_caller]
pub(super) fn watch_signals(set: Option<Arc<Set>>) -> Context {
    let (ctx, cancel) = Context::background().with_cancel();
    let signals = listen();
    let running = move || set.as_ref().map(running_names);
    tokio::spawn(watch(signals, cancel, running, |code| {
        std::process::exit(code)
    }));
    ctx
}

/// Cancels on the first signal of `signals`, calls `exit` with its exit code on the second;
/// stops watching if the stream ends (its runtime is shutting down).
///
/// # Cancel safety
///
/// Dropped (its runtime shutting down), it stops watching and leaves the context as it is;
/// the OS handlers stay installed, as tokio never uninstalls them.
async fn watch<S, R, X>(mut signals: S, cancel: CancelHandle, running: R, exit: X)
where
    S: Stream<Item = Signal> + Unpin,
    R: FnOnce() -> Option<Vec<String>>,
    X: FnOnce(i32),
{
    let Some(first) = signals.next().await else {
        return;
    };
    tracing::event!(
        target: "async_tasks",
        tracing::Level::INFO,
        { fields::SIGNAL } = first.name(),
        "{} received: stopping (send another to exit at once)",
        first.name()
    );
    cancel.cancel();
    let Some(second) = signals.next().await else {
        return;
    };
    let exit_code = second.exit_code();
    match running() {
        // A set is watched: say what the exit drops, in the one line before it.
        Some(names) => {
            let dropped = Names(&names);
            tracing::event!(
                target: "async_tasks",
                tracing::Level::ERROR,
                { fields::SIGNAL } = second.name(),
                { fields::EXIT_CODE } = exit_code,
                { fields::RUNNING } = names.len(),
                "{} received while stopping: exiting now, {dropped}",
                second.name()
            );
        }
        None => tracing::event!(
            target: "async_tasks",
            tracing::Level::WARN,
            { fields::SIGNAL } = second.name(),
            { fields::EXIT_CODE } = exit_code,
            "{} received while stopping: exiting now",
            second.name()
        ),
    }
    exit(exit_code);
}

/// What an exit drops, as the line before it says it: `with 3 tasks still running: a, b
/// and c` (a handful of names, then a count), or `with no task running`.
struct Names<'a>(&'a [String]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => f.write_str("with no task running"),
            n => {
                write!(
                    f,
                    "with {n} task{} still running: ",
                    if n == 1 { "" } else { "s" }
                )?;
                write_names(f, self.0)
            }
        }
    }
}

/// Installs the handlers for SIGINT and SIGTERM, and returns their signals as one stream.
#[cfg(unix)]
#[track_caller]
fn listen() -> impl Stream<Item = Signal> + Send + Unpin + 'static {
    use tokio::signal::unix::{SignalKind, signal};

    let install = |kind: SignalKind, signal_name: &str| {
        signal(kind).unwrap_or_else(|err| panic!("cannot install a {signal_name} handler: {err}"))
    };
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT");
    let mut terminate = install(SignalKind::terminate(), "SIGTERM");
    futures_util::stream::poll_fn(move |cx: &mut TaskContext<'_>| {
        let polled = [
            (interrupt.poll_recv(cx), Signal::Interrupt),
            (terminate.poll_recv(cx), Signal::Terminate),
        ];
        first_of(polled)
    })
}

/// Installs the Ctrl-C handler, and returns its events as a stream.
#[cfg(windows)]
#[track_caller]
fn listen() -> impl Stream<Item = Signal> + Send + Unpin + 'static {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()
        .unwrap_or_else(|err| panic!("cannot install a Ctrl-C handler: {err}"));
    futures_util::stream::poll_fn(move |cx: &mut TaskContext<'_>| {
        first_of([(ctrl_c.poll_recv(cx), Signal::Interrupt)])
    })
}

/// The first signal received among `polled`; the end of the stream if any listener ended
/// (tokio ends them when the runtime's driver goes away).
fn first_of<const N: usize>(polled: [(Poll<Option<()>>, Signal); N]) -> Poll<Option<Signal>> {
    let mut ended = false;
    for (poll, signal) in polled {
        match poll {
            Poll::Ready(Some(())) => return Poll::Ready(Some(signal)),
            Poll::Ready(None) => ended = true,
            Poll::Pending => {}
        }
    }
    if ended {
        Poll::Ready(None)
    } else {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tokio::sync::mpsc;
    use tokio_test::{assert_pending, assert_ready, task};

    use super::*;
    use crate::context::ContextError;

    /// A stream of signals fed by the returned sender.
    fn fake_signals() -> (
        mpsc::UnboundedSender<Signal>,
        impl Stream<Item = Signal> + Unpin,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        (
            tx,
            futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)),
        )
    }

    /// What the fmt subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn install(&self) -> tracing::subscriber::DefaultGuard {
            // A second live dispatcher, so that tracing combines interest over all of them
            // instead of caching "never" from another test's thread (tokio-rs/tracing#3611;
            // `testing::SpanRecorder` does the same).
            static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
            ANCHOR.get_or_init(|| {
                tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default())
            });
            let logs = self.clone();
            let subscriber = tracing_subscriber::fmt()
                // Plain text, whichever crate of the workspace turns on the `ansi` feature.
                .with_ansi(false)
                .with_writer(move || logs.clone())
                .without_time()
                .with_target(true)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[tokio::test]
    async fn the_first_signal_cancels_and_the_second_exits_with_its_code() {
        for (first, second, code) in [
            (Signal::Terminate, Signal::Terminate, 143),
            (Signal::Interrupt, Signal::Interrupt, 130),
            (Signal::Interrupt, Signal::Terminate, 143),
        ] {
            let logs = Logs::default();
            let _guard = logs.install();
            let (ctx, cancel) = Context::background().with_cancel();
            let (send, signals) = fake_signals();
            let exited = Arc::new(Mutex::new(Vec::new()));
            let exit = {
                let exited = Arc::clone(&exited);
                move |code| exited.lock().unwrap().push(code)
            };
            let mut watcher = task::spawn(watch(signals, cancel, || None, exit));

            assert_pending!(watcher.poll());
            assert!(!ctx.is_done(), "canceled before any signal");

            send.send(first).unwrap();
            assert!(watcher.is_woken());
            assert_pending!(watcher.poll());
            assert_eq!(ctx.err(), Some(ContextError::Canceled));
            assert!(
                exited.lock().unwrap().is_empty(),
                "exited on the first signal"
            );
            let text = logs.text();
            let said = format!(
                "INFO async_tasks: {0} received: stopping (send another to exit at once) signal=\"{0}\"",
                first.name()
            );
            assert!(text.contains(&said), "{text}");

            send.send(second).unwrap();
            assert_ready!(watcher.poll());
            assert_eq!(*exited.lock().unwrap(), [code]);
            let text = logs.text();
            let said = format!(
                "WARN async_tasks: {} received while stopping: exiting now",
                second.name()
            );
            assert!(text.contains(&said), "{text}");
            assert!(text.contains(&format!("exit_code={code}")), "{text}");
        }
    }

    #[tokio::test]
    async fn a_second_signal_names_what_still_runs_in_one_error_line_before_it_exits() {
        let logs = Logs::default();
        let _guard = logs.install();
        let (_ctx, cancel) = Context::background().with_cancel();
        let (send, signals) = fake_signals();
        let exited = Arc::new(Mutex::new(Vec::new()));
        let exit = {
            let exited = Arc::clone(&exited);
            move |code| exited.lock().unwrap().push(code)
        };
        let running = || Some(vec!["dispatcher".to_owned(), "jobs/job-7".to_owned()]);
        let mut watcher = task::spawn(watch(signals, cancel, running, exit));
        send.send(Signal::Terminate).unwrap();
        assert_pending!(watcher.poll());
        send.send(Signal::Terminate).unwrap();
        assert_ready!(watcher.poll());
        assert_eq!(*exited.lock().unwrap(), [143]);
        let text = logs.text();
        let errors: Vec<&str> = text.lines().filter(|line| line.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(
            errors[0].contains(
                "ERROR async_tasks: SIGTERM received while stopping: exiting now, with 2 tasks \
                 still running: dispatcher, jobs/job-7"
            ),
            "{text}"
        );
        assert_eq!(Names(&[]).to_string(), "with no task running");
    }

    #[tokio::test]
    async fn the_watcher_stops_when_the_signals_end() {
        let (ctx, cancel) = Context::background().with_cancel();
        let (send, signals) = fake_signals();
        let exited = Arc::new(Mutex::new(false));
        let exit = {
            let exited = Arc::clone(&exited);
            move |_| *exited.lock().unwrap() = true
        };
        let mut watcher = task::spawn(watch(signals, cancel, || None, exit));
        assert_pending!(watcher.poll());
        drop(send);
        assert_ready!(watcher.poll());
        assert!(!ctx.is_done());
        assert!(!*exited.lock().unwrap());
    }

    #[test]
    fn the_first_signal_received_wins_and_an_ended_listener_ends_the_stream() {
        use Signal::{Interrupt, Terminate};
        let pending = Poll::Pending;
        assert_eq!(
            first_of([(pending, Interrupt), (pending, Terminate)]),
            Poll::Pending
        );
        assert_eq!(
            first_of([(pending, Interrupt), (Poll::Ready(Some(())), Terminate)]),
            Poll::Ready(Some(Terminate))
        );
        assert_eq!(
            first_of([(Poll::Ready(None), Interrupt), (pending, Terminate)]),
            Poll::Ready(None)
        );
        assert_eq!(Interrupt.exit_code(), 130);
        assert_eq!(Terminate.exit_code(), 143);
    }
}
