//! Shared bits of the runnable examples in `examples/`.
//!
//! Each port of a Go example prints through an [`Output`], so that `main` can print to
//! stdout and the example's own test can check the very same lines Go's `// Output:` shows.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Where an example prints its lines: stdout, or a buffer a test reads back.
#[derive(Clone, Default)]
pub struct Output {
    captured: Option<Arc<Mutex<Vec<String>>>>,
}

impl Output {
    /// Prints every line to stdout.
    #[must_use]
    pub fn stdout() -> Self {
        Output { captured: None }
    }

    /// Keeps every line, for [`lines`](Output::lines).
    #[must_use]
    pub fn capture() -> Self {
        Output {
            captured: Some(Arc::default()),
        }
    }

    /// Prints one line.
    pub fn println(&self, line: impl fmt::Display) {
        match &self.captured {
            Some(lines) => lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_string()),
            None => println!("{line}"),
        }
    }

    /// The lines printed so far (empty for [`Output::stdout`]).
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.captured.as_ref().map_or_else(Vec::new, |lines| {
            lines.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("captured", &self.captured.is_some())
            .finish()
    }
}
