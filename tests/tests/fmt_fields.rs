//! `async_tasks::fmt::Fields` on a console line: which fields it leaves out, and that it
//! leaves the program's own spans alone.
//!
//! Covers:
//! - the program's own spans keep their `error` and `panic` fields, recorded late or not
//!   (regression: any span's recorded `error` / `panic` was hidden);
//! - a failed `#[async_task]` call's span does not repeat the `error` (or `panic`) its
//!   task's report says on the same line; the `otel.*` fields are left out;
//! - a singleton's events in its term's span say the lease, the holder and the fence once
//!   (regression: three times, from the new-user trial).

use std::sync::{Arc, Mutex};

use async_tasks::{BoxError, Context, Tasks, async_task};
use tracing_subscriber::fmt::MakeWriter;

/// What the subscriber wrote.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// A console subscriber with `Fields`, writing to a buffer, the current thread's default
/// until the guard drops.
fn console() -> (Buffer, tracing::subscriber::DefaultGuard) {
    let out = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(out.clone())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .fmt_fields(async_tasks::fmt::Fields::new())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (out, guard)
}

/// Regression (reliability round 3, defect 8): `Fields` hid an `error` or `panic` recorded
/// on any span, not only on the library's own.
#[test]
fn the_programs_own_spans_keep_their_error_and_panic_fields() {
    let (out, _guard) = console();
    let request = tracing::info_span!(
        "request",
        id = 7,
        n = 3,
        error = tracing::field::Empty,
        panic = tracing::field::Empty,
    );
    request.record("error", "upstream timeout");
    request.in_scope(|| tracing::info!("responded 504"));
    request.record("panic", "oops");
    request.in_scope(|| tracing::info!("responded 500"));
    let made_with = tracing::info_span!("batch", error = "bad row");
    made_with.in_scope(|| tracing::warn!("skipped"));
    assert_eq!(
        out.lines(),
        [
            r#" INFO request{id=7 n=3 error="upstream timeout"}: responded 504"#,
            r#" INFO request{id=7 n=3 error="upstream timeout" panic=oops}: responded 500"#,
            r#" WARN batch{error="bad row"}: skipped"#,
        ]
    );
}

#[async_task(fields(job = id))]
async fn import(_ctx: Context, id: u32) -> Result<(), BoxError> {
    Err("disk full".into())
}

#[async_task]
async fn crash(_ctx: Context) {
    panic!("index out of bounds")
}

/// The library's own call spans still leave out what their task's report says.
#[tokio::test]
async fn a_failed_calls_span_does_not_repeat_its_reports_error_or_panic() {
    let (out, _guard) = console();
    let tasks = Tasks::new("jobs");
    tasks.run(&Context::background(), import(7));
    tasks.wait().await;
    tasks.run(&Context::background(), crash());
    tasks.wait().await;
    assert_eq!(
        out.lines(),
        [
            // The task once and the error once: the message says both.
            r#"ERROR task{task.name=jobs}:import{job=7}: task "import" failed: disk full tasks=jobs"#,
            r#"ERROR task{task.name=jobs}:crash: task "crash" panicked: index out of bounds tasks=jobs"#,
        ]
    );
}

/// A failure report's own fields stay for what reads them (a JSON log, OpenTelemetry), and
/// the program's events keep theirs even when they look alike.
#[tokio::test]
async fn only_the_librarys_failure_events_leave_out_what_their_message_says() {
    let (out, _guard) = console();
    tracing::error!(
        task = "sync",
        tasks = "svc",
        error = "timeout",
        "sync failed: timeout"
    );
    tracing::error!(
        task = "sync",
        error = "timeout",
        "task \"sync\" failed: timeout"
    );
    let tasks = Tasks::new("jobs");
    tasks.run(
        &Context::background(),
        async_tasks::Func::named("retry", |_ctx| async { Err("boom".into()) }),
    );
    tasks.wait().await;
    assert_eq!(
        out.lines(),
        [
            r#"ERROR sync failed: timeout task=sync tasks=svc error=timeout"#,
            r#"ERROR task "sync" failed: timeout task=sync error=timeout"#,
            r#"ERROR task{task.name=jobs}: task "retry" failed: boom tasks=jobs"#,
        ]
    );
}

/// A singleton's INFO on taking the lease sits in its term's span, which names the lease,
/// the holder and the fence; its message names the lease and the fence again: the line says
/// each once. An event whose message does not say them keeps them.
#[tokio::test(start_paused = true)]
async fn a_singletons_events_say_the_lease_holder_and_fence_once() {
    use async_tasks::lease::{Lease, MemoryLeases};

    let (out, _guard) = console();
    let tasks = Tasks::new("svc");
    let lease = Lease::new("outbox", MemoryLeases::new()).holder("web-1");
    tasks.run_singleton(
        &Context::background(),
        lease,
        async_tasks::Func::named("relay", |ctx: Context| async move {
            ctx.done().await;
            Ok(())
        }),
    );
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tasks.shutdown(std::time::Duration::from_secs(1)),
    )
    .await
    .expect("bounded")
    .expect("the run ends");
    tracing::info!(
        lease = "outbox",
        holder = "web-1",
        fence = 1u64,
        "wrote the outbox's batch"
    );
    let lines = out.lines();
    let taken = lines
        .iter()
        .find(|line| line.contains("taken"))
        .expect("the INFO on taking the lease");
    assert_eq!(
        taken,
        r#" INFO lease{lease.name=outbox lease.holder=web-1 lease.fence=1}: lease "outbox" taken: this replica leads (fence 1)"#
    );
    assert_eq!(
        lines.last().unwrap(),
        r#" INFO wrote the outbox's batch lease=outbox holder=web-1 fence=1"#,
        "an event whose message does not say them keeps them"
    );
}

/// The rule that leaves out what a singleton's event says already reads only events with
/// all three of the library's lease fields: a program's event with some of them keeps
/// them, whatever its message says.
#[test]
fn a_programs_event_with_some_lease_fields_keeps_them() {
    let (out, _guard) = console();
    tracing::info!(
        lease = "outbox",
        fence = 3u64,
        "lease \"outbox\" renewed (fence 3)"
    );
    assert_eq!(
        out.lines(),
        [r#" INFO lease "outbox" renewed (fence 3) lease=outbox fence=3"#]
    );
}
