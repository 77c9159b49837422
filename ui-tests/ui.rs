//! Compile-fail and compile-pass tests for `#[async_task]`.
//!
//! Run with `cargo test -p async-tasks-ui-tests`; after an intended change to a message,
//! regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p async-tasks-ui-tests`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
