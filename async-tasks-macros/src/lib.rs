//! The `#[async_task]` attribute of [async-tasks](https://docs.rs/async-tasks): turns an
//! `async fn` into a traced `Runner`.
//!
//! Use it through `async_tasks::async_task`, whose documentation describes it; this crate
//! is an implementation detail and is versioned in lockstep with `async-tasks`.
//!
//! How it is built, as [`async_task`] runs it: `attr.rs` parses the attribute's arguments,
//! `item.rs` the function, `valid.rs` checks the function's shape (`receiver.rs` knows the
//! accepted receivers); then `expand.rs` generates the code of a valid fn, or `fallback.rs`
//! what stands in for a broken one next to its errors. Parsing and checking report every
//! mistake (all of them, not only the first) as a `syn::Error` on the narrowest token and
//! never emit tokens; expansion and the fallback report nothing. Imports go one way: `item`,
//! `receiver` and `error` import nothing of this crate's, `attr` only `error`, `valid` those,
//! `expand` and `fallback` what they read, and this file all of them (`.ci/imports.rs` checks
//! it, as it checks the runtime crate).
//!
//! The tests that trybuild cannot run are in `tests/`: the fuzzing of the whole attribute,
//! the shape of the expansion and of the stub.
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
mod item;
mod receiver;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro2::TokenStream;

use crate::error::Errors;
use crate::item::ItemFn;
use crate::valid::Checked;

/// Defined in `async-tasks-macros`; use it as `async_tasks::async_task`, with a dependency
/// on `async-tasks` alone (the code it generates names that crate).
#[proc_macro_attribute]
pub fn async_task(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    attribute(args.into(), item.into()).into()
}

/// The whole of `#[async_task(args)] item`, from tokens to tokens: parse the arguments,
/// parse the item, check it, then expand it, or emit the fallback next to every error.
fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, args_error) = attr::parse(args);
    let mut errors = Errors::default();
    errors.extend(args_error);
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(err) => {
            // Not a function: leave the item as it is, so that only this error shows.
            errors.push(err);
            return with_errors(item, errors);
        }
    };
    let tokens = match valid::check(item_fn) {
        Checked::Valid(task) => expand::runner(&args, *task),
        Checked::Invalid(err, broken) => {
            errors.push(err);
            fallback::stub(&args.krate(), *broken)
        }
    };
    with_errors(tokens, errors)
}

/// `tokens`, followed by a `compile_error!` for each error.
fn with_errors(mut tokens: TokenStream, errors: Errors) -> TokenStream {
    if let Some(err) = errors.into_error() {
        tokens.extend(err.into_compile_error());
    }
    tokens
}
