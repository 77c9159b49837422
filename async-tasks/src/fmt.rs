//! [`Fields`]: the console field formatter for `tracing-subscriber`'s `fmt`, which leaves out
//! the fields meant for OpenTelemetry (feature `fmt`).
//!
//! # Why a formatter, and not fewer fields
//!
//! A run's span carries `otel.name` (the set's name: what OpenTelemetry names the run by, as
//! the span itself is named `"task"`), and a failed span `otel.status_code` and
//! `otel.status_description` (what `tracing-opentelemetry` exports as its status). Recording
//! fewer fields would take those away from every OpenTelemetry user; leaving them out at the
//! console takes nothing from anyone. So the spans keep them, and the console's formatter
//! skips them: `task{task.name=jobs}` rather than
//! `task{task.name="jobs" otel.name="jobs"}`.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

use crate::call::is_reported;
use crate::fields;

/// Formats span and event fields as `tracing-subscriber`'s default formatter does, but
/// leaves out the `otel.*` fields (meant for OpenTelemetry, which reads them from the spans
/// whatever the console shows) and writes a string with no spaces or quotes in it without
/// quotes (`task.name=jobs`).
///
/// A line says each thing once. So it also leaves out the `error` and `panic` fields that
/// an `#[async_task]` call's span records once it fails (the failure's report, an event in
/// that span, says them already), and, on that report, the `task`, `error` and `panic`
/// fields its message says; likewise, on a singleton's events in its term's span (`lease
/// "outbox" taken: this replica leads (fence 3)`), the `lease`, `fence` and `holder`
/// fields the message and the span say (an event of the program's own with those three
/// fields and a message that names the lease and the fence as these do reads as one). They stay on the events for what reads fields: a
/// JSON log, OpenTelemetry. Only those: fields a span is created with are all shown, and the
/// program's own spans and events keep every field. A failure reads:
///
/// ```text
/// ERROR task{task.name=mailer}:send-mail{to=ada}: async_tasks: task "send-mail" failed: mailbox full tasks=mailer
/// ```
///
/// With stock `tracing-subscriber` (features `fmt` and `env-filter`), a service's console
/// is three lines of setup (compiled here, not run: it installs the process's subscriber):
///
/// ```no_run
/// use std::io::IsTerminal;
/// use tracing_subscriber::EnvFilter;
///
/// tracing_subscriber::fmt()
///     .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
///     .with_ansi(std::io::stdout().is_terminal()) // no colour codes in a file
///     .fmt_fields(async_tasks::fmt::Fields::new())
///     .init();
/// ```
///
/// Span open and close lines are off, as `fmt()` has them by default; turn them on with
/// `.with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)`. The library's own events have the
/// target `async_tasks`, so `RUST_LOG=myapp=debug,async_tasks=info` keeps its failure reports
/// beside the service's own debug lines.
///
/// # Examples
///
/// ```
/// use tracing_subscriber::fmt::MakeWriter;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Buffer(Arc<Mutex<Vec<u8>>>);
/// # impl std::io::Write for Buffer {
/// #     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
/// #         self.0.lock().unwrap().write(buf)
/// #     }
/// #     fn flush(&mut self) -> std::io::Result<()> {
/// #         Ok(())
/// #     }
/// # }
/// # impl<'a> MakeWriter<'a> for Buffer {
/// #     type Writer = Buffer;
/// #     fn make_writer(&'a self) -> Buffer {
/// #         self.clone()
/// #     }
/// # }
///
/// let out = Buffer::default();
/// let subscriber = tracing_subscriber::fmt()
///     .with_writer(out.clone())
///     .with_ansi(false)
///     .without_time()
///     .with_target(false)
///     .fmt_fields(async_tasks::fmt::Fields::new())
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("task", task.name = "jobs", otel.name = "jobs");
///     span.in_scope(|| tracing::info!(job = 7, user = "ada lovelace", "picked up"));
/// });
/// let line = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(line.trim(), r#"INFO task{task.name=jobs}: picked up job=7 user="ada lovelace""#);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields {
    _private: (),
}

impl Fields {
    /// The formatter.
    #[must_use]
    pub const fn new() -> Fields {
        Fields { _private: () }
    }
}

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        // A first look at the names only (nothing copied): only an event with the fields of
        // the library's failure or lease events is read again, for what its message says
        // already, which is not said twice.
        let mut marks = Marks::default();
        fields.record(&mut marks);
        let said = if marks.library() {
            let mut said = Said::default();
            fields.record(&mut said);
            said.repeated()
        } else {
            Repeated::default()
        };
        let mut visitor = Visitor {
            inner: DefaultVisitor::new(writer, true),
            recorded: false,
            said,
        };
        fields.record(&mut visitor);
        visitor.inner.finish()
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Formatted apart first, so that fields all left out add nothing, not even a space.
        let mut added = String::new();
        let mut visitor = Visitor {
            inner: DefaultVisitor::new(Writer::new(&mut added), true),
            recorded: true,
            said: Repeated::default(),
        };
        fields.record(&mut visitor);
        visitor.inner.finish()?;
        if added.is_empty() {
            return Ok(());
        }
        if !current.fields.is_empty() {
            current.fields.push(' ');
        }
        current.fields.write_str(&added)
    }
}

/// Which of the fields the library's failure events (`task` and `tasks`) and a singleton's
/// events in its term's span (`lease`, `holder` and `fence`) carry, an event or span has:
/// by name, reading no value.
#[derive(Default)]
struct Marks {
    task: bool,
    tasks: bool,
    lease: bool,
    holder: bool,
    fence: bool,
}

impl Marks {
    /// Whether it has all the fields of one of the library's own events.
    fn library(&self) -> bool {
        (self.task && self.tasks) || (self.lease && self.holder && self.fence)
    }
}

impl Visit for Marks {
    // Every kind of value comes here through `Visit`'s defaults; only the name is read.
    fn record_debug(&mut self, field: &Field, _value: &dyn fmt::Debug) {
        let mark = match field.name() {
            fields::TASK => &mut self.task,
            fields::TASKS => &mut self.tasks,
            fields::LEASE => &mut self.lease,
            fields::HOLDER => &mut self.holder,
            fields::FENCE => &mut self.fence,
            _ => return,
        };
        *mark = true;
    }
}

/// What the fields of one event or span say, as far as [`Said::repeated`] needs: the
/// message, and the `task`, `tasks`, `error`, `panic`, `lease`, `holder` and `fence` fields,
/// as text.
#[derive(Default)]
struct Said {
    message: Option<String>,
    task: Option<String>,
    tasks: bool,
    error: Option<String>,
    panic: Option<String>,
    lease: Option<String>,
    holder: bool,
    fence: Option<String>,
}

impl Said {
    /// Which fields a failure report of the library repeats from its message: on an event
    /// with `task` and `tasks` fields whose message names the task (`task "X" failed: ..`,
    /// `task "X" panicked: ..`), the `task` field, and the `error` or `panic` field the
    /// message says too. Nothing for anything else: the program's own events keep every
    /// field.
    ///
    /// And on a singleton's event in its term's span (with `lease`, `holder` and `fence`
    /// fields), whose message names the lease and the fence (`lease "X" ... (fence N)`),
    /// those three fields: the message and the term's span say them.
    fn repeated(self) -> Repeated {
        if let (Some(message), Some(lease), Some(fence), true) =
            (&self.message, &self.lease, &self.fence, self.holder)
        {
            let term = message.contains(&format!("lease \"{lease}\""))
                && message.contains(&format!("(fence {fence})"));
            return Repeated {
                lease: term,
                fence: term,
                holder: term,
                ..Repeated::default()
            };
        }
        let (Some(message), Some(task), true) = (&self.message, &self.task, self.tasks) else {
            return Repeated::default();
        };
        if !message.starts_with(&format!("task \"{task}\" ")) {
            return Repeated::default();
        }
        let says = |value: &Option<String>| value.as_ref().is_some_and(|v| message.contains(v));
        Repeated {
            task: true,
            error: says(&self.error),
            panic: says(&self.panic),
            ..Repeated::default()
        }
    }
}

impl Visit for Said {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "message" => &mut self.message,
            fields::TASK => &mut self.task,
            fields::ERROR => &mut self.error,
            fields::PANIC => &mut self.panic,
            fields::LEASE => &mut self.lease,
            fields::TASKS => {
                self.tasks = true;
                return;
            }
            fields::HOLDER => {
                self.holder = true;
                return;
            }
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == fields::FENCE {
            self.fence = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A message made with format arguments comes as its `Debug`, which writes it as is.
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}

/// The fields of an event that its message says already: left out of the line.
#[derive(Default, Clone, Copy)]
struct Repeated {
    task: bool,
    error: bool,
    panic: bool,
    lease: bool,
    holder: bool,
    fence: bool,
}

/// Forwards every field but the `otel.*` ones (and the failure fields recorded on a call
/// span whose report says them, see [`is_reported`], and what a failure report's message
/// says already, see [`Said::repeated`]) to tracing-subscriber's own visitor.
struct Visitor<'a> {
    inner: DefaultVisitor<'a>,
    /// Fields recorded on a span after it was made.
    recorded: bool,
    said: Repeated,
}

impl Visitor<'_> {
    fn shown(&self, field: &Field) -> bool {
        let name = field.name();
        let reported = || self.recorded && (name == fields::ERROR || name == fields::PANIC);
        let repeated = (name == fields::TASK && self.said.task)
            || (name == fields::ERROR && self.said.error)
            || (name == fields::PANIC && self.said.panic)
            || (name == fields::LEASE && self.said.lease)
            || (name == fields::HOLDER && self.said.holder)
            || (name == fields::FENCE && self.said.fence);
        // The callsite is looked up only for a recorded `error` or `panic`.
        !(name.starts_with(fields::OTEL_PREFIX)
            || repeated
            || reported() && is_reported(&field.callsite()))
    }
}

/// Whether `value` reads unambiguously without quotes in `name=value`.
fn bare(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | '\\'))
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.shown(field) {
            return;
        }
        if field.name() != "message" && bare(value) {
            self.inner.record_debug(field, &format_args!("{value}"));
        } else {
            self.inner.record_str(field, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.shown(field) {
            self.inner.record_error(field, value);
        }
    }

    // Numbers and booleans come here too, through `Visit`'s defaults, as `DefaultVisitor`
    // (which formats them with `Debug` itself) would have them.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.shown(field) {
            self.inner.record_debug(field, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

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

    fn lines(f: impl FnOnce()) -> String {
        let out = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(Fields::new())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn otel_fields_are_left_out_and_the_programs_own_failure_fields_kept() {
        let text = lines(|| {
            let span = tracing::info_span!(
                "task",
                task.name = "jobs",
                otel.name = "jobs",
                otel.status_code = tracing::field::Empty,
                error = tracing::field::Empty,
                iteration = 3,
                note = tracing::field::Empty,
            );
            span.record("otel.status_code", "ERROR");
            span.record("error", "disk full");
            span.record("note", "kept");
            span.in_scope(|| tracing::error!(error = "disk full", "task \"jobs\" failed"));
        });
        assert_eq!(
            text.trim(),
            r#"ERROR task{task.name=jobs iteration=3 error="disk full" note=kept}: task "jobs" failed error="disk full""#
        );
    }

    #[test]
    fn a_reported_callsites_recorded_failure_fields_are_left_out() {
        let text = lines(|| {
            let span = tracing::info_span!(
                "import",
                job = 7,
                error = tracing::field::Empty,
                panic = tracing::field::Empty,
            );
            crate::call::mark_reported(&span);
            span.record("error", "disk full");
            span.in_scope(|| tracing::error!(error = "disk full", "failed"));
        });
        assert_eq!(
            text.trim(),
            r#"ERROR import{job=7}: failed error="disk full""#
        );
    }

    #[test]
    fn strings_are_bare_only_when_that_reads_unambiguously() {
        for (value, shown) in [
            ("jobs", "jobs"),
            ("svc/jobs", "svc/jobs"),
            ("two words", r#""two words""#),
            ("a=b", r#""a=b""#),
            ("", r#""""#),
        ] {
            let text = lines(|| tracing::info!(v = value, "m"));
            assert_eq!(text.trim(), format!("INFO m v={shown}"), "{value:?}");
        }
    }
}
