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
//! Run with `cargo test -p async-tasks-ui-tests`; after an intended change to a message,
//! regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p async-tasks-ui-tests`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
    t.compile_fail("fail/types/*.rs");
}
