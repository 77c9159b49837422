//! Compile-fail and compile-pass tests for `#[async_task]`, run by `ui.rs` with trybuild.
