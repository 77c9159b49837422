//! The macro's own tests, for what the ui tests (`ui-tests/`, trybuild) cannot see: that no
//! input makes it panic or report an error at the call site ([`fuzz`]), the shape of the code
//! it emits ([`expansion`]). That its modules import one way is checked by `.ci/imports.rs`,
//! for both crates.
//!
//! Every message, and that valid inputs compile and run, is pinned by a ui case instead.

mod expansion;
mod fuzz;
