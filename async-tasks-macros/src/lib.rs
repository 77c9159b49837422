//! The `#[async_task]` attribute of [async-tasks](https://docs.rs/async-tasks): turns an
//! `async fn` into a traced `Runner`.
//!
//! Use it through `async_tasks::async_task`, whose documentation describes it; this crate
//! is an implementation detail and is versioned in lockstep with `async-tasks`.
//!
//! How it is built: `attr.rs` parses the attribute's arguments, `item.rs` the function,
//! `valid.rs` checks the function's shape, `expand.rs` generates the code, and
//! `fallback.rs` what stands in for a broken fn next to its errors. Parsing and checking
//! report every mistake (all of them, not only the first) as a `syn::Error` on the
//! narrowest token and never emit tokens; expansion never reports errors of its own.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod attr;
mod error;
mod expand;
mod fallback;
#[cfg(test)]
mod fuzz;
mod item;
mod valid;

use proc_macro::TokenStream;

/// Defined in `async-tasks-macros`; use it as `async_tasks::async_task`, with a dependency
/// on `async-tasks` alone (the code it generates names that crate).
#[proc_macro_attribute]
pub fn async_task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}
