//! [`quiet_task_panics`]: a panic hook that leaves the panics of tasks to their reports.

use std::sync::Once;

use crate::task::keep_panic_location;

/// Leaves the panics of tasks to their reports: installs a panic hook that prints nothing for
/// a panic raised inside a run of a [`Tasks`](crate::task::Tasks) set, and hands every other panic
/// to the hook installed before (std's, which prints `thread '…' panicked at …`, unless the
/// program replaced it).
///
/// A run's panic is caught and reported anyway, as one ERROR event with the target
/// `async_tasks`, the task's name, its set and the `panic` message; without this hook std's
/// hook also prints it to stderr first, in another format, outside the program's logs. With
/// it, the event also has a `location` field (`src/jobs.rs:42:9`), what std's line said.
///
/// Opt-in, as a panic hook is the program's to choose: call it once at the start of `main`;
/// later calls do nothing. A run of a set means the poll of one of its tasks, on the thread
/// that polls it: a panic in a `spawn_blocking` closure, in a plain `tokio::spawn`, or
/// outside any task still goes to the previous hook. Backtraces, which std's hook prints
/// under `RUST_BACKTRACE`, are not kept for a task's panic.
///
/// A panic raised in a run and caught inside it (by the task's own `catch_unwind`, or a
/// catch-unwind layer around a request handler) is not the run's panic, and has no report
/// of the run: it is reported on its own instead, as one ERROR event in the run's span when
/// the poll in which it was raised ends, `task "NAME" panicked, and the panic was caught
/// inside the run: MESSAGE`, with the same fields. It does not go to the previous hook:
/// whether a panic will be caught, and by whom, is known only once it has unwound, after
/// the hook has run. (Past 16 such panics in one poll, the older ones are only counted.)
///
/// Each report's `location` is that of its own panic: a panic resumed with
/// `std::panic::resume_unwind` (which calls no hook) keeps the location of the panic it
/// was caught from, in the same poll; a new payload raised that way has none.
///
/// # Examples
///
/// ```
/// use async_tasks::{Context, Func, Tasks};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// async_tasks::task::quiet_task_panics();
/// let tasks = Tasks::new("svc");
/// tasks.run(&Context::background(), Func::named("buggy", |_ctx| async {
///     panic!("index out of bounds") // one ERROR event; nothing on stderr
/// }));
/// tasks.wait().await;
/// # }
/// ```
pub fn quiet_task_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = || info.location().map(ToString::to_string);
            if !keep_panic_location(info.payload(), location) {
                previous(info);
            }
        }));
    });
}
