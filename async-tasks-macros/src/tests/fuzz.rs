//! The macro never panics: [`attribute`] is fed thousands of generated and mangled items and
//! attribute arguments, and must answer each with tokens: code, or code next to
//! `compile_error!`s that point at the input.
//!
//! Inputs are written as text and lexed by proc-macro2's fallback lexer, which (with the
//! `span-locations` feature, enabled for this crate's tests) gives each token its place in
//! the text. `Span::call_site()` is the one span that covers no text, so an error "at the
//! call site" is told apart from one at a token.
//!
//! Four generators:
//! - **shaped**: `#[async_task(args)]` over a fn assembled from parts (attributes,
//!   visibility, `const`/`async`/`unsafe`/`extern`, name, generics, receiver, context,
//!   arguments, return type, `where`, body), each part known to be accepted or not, so the
//!   test also knows whether an error is due;
//! - **mutated**: a shaped input whose tokens are then dropped, duplicated, swapped,
//!   replaced, inserted, unwrapped from or rewrapped in groups;
//! - **soup**: random token trees for the arguments, the item, or both;
//! - **arguments**: random sequences of argument pieces and separators over a valid fn.
//!
//! Checked for every case: no panic; output tokens; each `compile_error!` carries the span
//! of an input token (its start and its end), except syn's "unexpected end of input", which
//! has no token to point at; an input that is a valid Rust item gives an output that parses
//! as items; a valid fn keeps its name (also in the stub emitted next to errors).
//!
//! 1024 cases per generator run by default (a few seconds in debug). To soak:
//!
//! ```text
//! PROPTEST_CASES=20000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p async-tasks-macros fuzz
//! ```

mod inputs;

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::test_runner::Config;

use self::inputs::*;
use crate::attribute;

/// Whether `span` covers no input text: in proc-macro2's fallback, only the call site does.
fn is_call_site(span: Span) -> bool {
    span.byte_range().is_empty()
}

/// The `compile_error!`s of `output`: the span of the `compile_error` identifier (the
/// error's start), of its braces (the error's end), and the message.
fn compile_errors(output: TokenStream, found: &mut Vec<(Span, Span, String)>) {
    let tokens: Vec<TokenTree> = output.into_iter().collect();
    for (i, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Ident(ident) if ident == "compile_error" => {
                let Some(TokenTree::Group(group)) = tokens.get(i + 2) else {
                    panic!("`compile_error` without its `!{{..}}`");
                };
                let message = syn::parse2::<syn::LitStr>(group.stream())
                    .map(|lit| lit.value())
                    .expect("a compile_error! message");
                found.push((ident.span(), group.span(), message));
            }
            TokenTree::Group(group) => compile_errors(group.stream(), found),
            _ => {}
        }
    }
}

/// Whether `message` is one of syn's own ("expected `=`", "unexpected end of input, ..."),
/// rather than one the macro words. syn shows its errors at the offending token, or at the
/// call site when the input ended before it found one: nothing else to point at.
fn is_syn_message(message: &str) -> bool {
    message.starts_with("expected ") || message.starts_with("unexpected ")
}

/// Whether `item` holds nothing but outer attributes (`#[..]`, whatever is inside) and a
/// visibility (`pub`, `pub(..)`).
fn nothing_after_attributes(item: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let mut rest = &tokens[..];
    while let [TokenTree::Punct(hash), TokenTree::Group(group), after @ ..] = rest {
        if hash.as_char() != '#' || group.delimiter() != Delimiter::Bracket {
            break;
        }
        rest = after;
    }
    match rest {
        [] => true,
        [TokenTree::Ident(vis)] => vis == "pub",
        [TokenTree::Ident(vis), TokenTree::Group(group)] => {
            vis == "pub" && group.delimiter() == Delimiter::Parenthesis
        }
        _ => false,
    }
}

/// What every case must satisfy; returns whether the output holds an error.
fn check(args: TokenStream, item: TokenStream) -> Result<bool, TestCaseError> {
    let valid_item = syn::parse2::<syn::Item>(item.clone()).ok();
    let empty_item = nothing_after_attributes(&item);
    let output = attribute(args, item);
    prop_assert!(!output.is_empty(), "no tokens at all");

    let mut errors = Vec::new();
    compile_errors(output.clone(), &mut errors);
    for (start, end, message) in &errors {
        // An attribute always sits on an item, so an item that stops before its `fn` (or
        // before anything) only comes from this test: its error has no token to point at.
        let nothing_to_point_at = is_syn_message(message)
            || (empty_item && message == "`#[async_task]` only applies to an `async fn`");
        if nothing_to_point_at {
            continue;
        }
        prop_assert!(
            !is_call_site(*start) && !is_call_site(*end),
            "error at the call site: {message:?}"
        );
    }

    if let Some(item) = valid_item {
        let file = syn::parse2::<syn::File>(output.clone());
        prop_assert!(
            file.is_ok(),
            "a valid item expanded to something that is not items: {:?}\n{output}",
            file.err()
        );
        if let (syn::Item::Fn(input), Ok(file)) = (item, file) {
            // The real expansion, or the stub next to the errors: the name stays declared.
            let declared = file
                .items
                .iter()
                .any(|item| matches!(item, syn::Item::Fn(f) if f.sig.ident == input.sig.ident));
            prop_assert!(
                declared,
                "`{}` is no longer declared:\n{output}",
                input.sig.ident
            );
        }
    }
    Ok(!errors.is_empty())
}

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default_cases);
    // A fixed seed unless PROPTEST_RNG_SEED says otherwise: CI explores the same cases on
    // every run (a failure there is reproducible, never a fluke); soaks pick their own seed.
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => Config::default().rng_seed,
        None => proptest::test_runner::RngSeed::Fixed(0x5eed_a5c7_a5c5),
    };
    Config {
        cases,
        failure_persistence: None,
        rng_seed,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn fuzz_shaped_fns_are_accepted_exactly_when_valid(case in shaped()) {
        let has_error = check(lex(&case.args), lex(&case.item))?;
        prop_assert_eq!(
            has_error,
            !case.accepted,
            "expected {}",
            if case.accepted { "no error" } else { "an error" }
        );
    }

    #[test]
    fn fuzz_mutated_fns_never_panic(
        case in shaped(),
        item_edits in prop::collection::vec(edit(), 0..6),
        args_edits in prop::collection::vec(edit(), 0..3),
    ) {
        let vocab: Vec<TokenTree> = lex(&VOCAB.join(" ")).into_iter().collect();
        let item = mutate(lex(&case.item), &item_edits, &vocab);
        let args = mutate(lex(&case.args), &args_edits, &vocab);
        check(args, item)?;
    }

    #[test]
    fn fuzz_token_soups_never_panic(args in soup(), item in soup(), shaped in shaped()) {
        // Soup for the arguments, for the item, and for both.
        check(lex(&args), lex(&shaped.item))?;
        check(lex(&shaped.args), lex(&item))?;
        check(lex(&args), lex(&item))?;
    }

    #[test]
    fn fuzz_argument_lists_are_accepted_exactly_when_valid((args, accepted) in attr_args()) {
        let has_error = check(lex(&args), lex("async fn f(ctx: Context, a: u8) {}"))?;
        prop_assert_eq!(has_error, !accepted);
    }
}

#[test]
fn fuzz_helpers_tell_the_call_site_from_a_token() {
    let tokens = lex("name = 1");
    let first = tokens.into_iter().next().expect("a token");
    assert!(!is_call_site(first.span()));
    assert!(is_call_site(Span::call_site()));
    assert!(is_call_site(Span::mixed_site()));

    assert!(nothing_after_attributes(&lex(
        "#[ctx async async] pub(crate)"
    )));
    assert!(nothing_after_attributes(&lex("")));
    assert!(!nothing_after_attributes(&lex("#[a] fn f() {}")));
    assert!(!nothing_after_attributes(&lex("pub struct")));
}

/// The errors of `attribute(args, item)`, each with whether it is shown at the call site.
fn errors_of(args: &str, item: &str) -> Vec<(String, bool)> {
    let mut errors = Vec::new();
    compile_errors(attribute(lex(args), lex(item)), &mut errors);
    errors
        .into_iter()
        .map(|(start, _, message)| (message, is_call_site(start)))
        .collect()
}

/// Found by `fuzz_shaped_fns_are_accepted_exactly_when_valid`. An empty `where` clause
/// prints no tokens, so `syn::Error::new_spanned(where_clause, ..)` falls back to the call
/// site; the `where` token is there to point at.
#[test]
fn an_empty_where_clause_is_reported_at_the_where_token() {
    assert_eq!(
        errors_of("", "async fn f(ctx: Context) where {}"),
        [(
            "an `#[async_task]` fn cannot have a `where` clause".to_owned(),
            false
        )]
    );
}

/// Found by `fuzz_argument_lists_are_accepted_exactly_when_valid`. A `crate` path that
/// stops early (`crate = my_crate::`) keeps the span of syn's end-of-input error, the call
/// site, while `crate` (or the path) is there to point at.
#[test]
fn a_crate_path_cut_short_is_reported_at_a_token() {
    assert_eq!(
        errors_of("crate = my_crate::", "async fn f(ctx: Context) {}"),
        [(
            "`crate` takes the path of the `async_tasks` crate, e.g. `crate = my_async_tasks`"
                .to_owned(),
            false
        )]
    );
}

#[test]
fn fuzz_messages_at_a_token_are_not_at_the_call_site() {
    assert_eq!(
        errors_of("level = \"loud\"", "async fn f(ctx: Context) {}"),
        [(
            "unknown level `\"loud\"`, expected one of `\"trace\"`, `\"debug\"`, `\"info\"`, \
             `\"warn\"`, `\"error\"`"
                .to_owned(),
            false
        )]
    );
}
