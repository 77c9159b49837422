//! Runnable examples for async-tasks: see `examples/`.
