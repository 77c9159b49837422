//! The macro's own tests, for what the ui tests (`ui-tests/`, trybuild) cannot see: that no
//! input makes it panic or report an error at the call site ([`fuzz`]), the shape of the code
//! it emits ([`expansion`]), and that its modules import one way ([`layout`]).
//!
//! Every message, and that valid inputs compile and run, is pinned by a ui case instead.

mod expansion;
mod fuzz;
mod layout;
