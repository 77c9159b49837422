//! Behaviour tests for async-tasks live in `tests/`; this crate has no library code.
