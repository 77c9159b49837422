//! Compile-fail and compile-pass tests for `#[async_task]`.
//!
//! - `pass/`: code that must compile (and run: trybuild runs each `main`);
//! - `fail/`: the macro's own errors (arguments, the fn's shape), whose wording and spans
//!   we own. Each case also calls its fn as a user would (`tasks.run(&ctx, f(args))`), so
//!   its `.stderr` pins that the stand-in emitted next to the errors adds none of its own
//!   at call sites: no wrong arity, no borrow errors, no unused imports;
//! - `fail/types/`: errors the compiler reports on the expansion (a non-`Clone` argument, a
//!   wrong return type, a type error in the body). Their wording belongs to rustc and may
//!   change between compilers; what they pin is that they point at the user's tokens, and
//!   what the attribute adds to them (the message for `f(ctx, args).await`, for a closure
//!   passed as a runner, for a `Self` that is not `Clone`).
//!
//!   `fail/types/` is pinned to the compiler its `.stderr` files were written with (the
//!   one CI runs, [`RUSTC`]): with another, the test says it is ignored and why, rather than
//!   fail on rustc's wording. Regenerate them when CI moves to a new compiler.
//!
//! Run with `cargo test -p async-tasks-ui-tests`; after an intended change to a message,
//! regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p async-tasks-ui-tests`
//! and review the diff.

/// The compiler whose words `fail/types/*.stderr` hold.
pub const RUSTC: &str = "1.95";

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "fail/types/*.stderr hold rustc 1.95's wording (see RUSTC)"
)]
#[test]
fn rustc_type_errors() {
    trybuild::TestCases::new().compile_fail("fail/types/*.rs");
}
