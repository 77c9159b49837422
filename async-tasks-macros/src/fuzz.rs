//! The macro never panics: [`expand`] is fed thousands of generated and mangled items and
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

use std::str::FromStr;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::expand::expand;

/// One choice for a part of a generated fn.
#[derive(Debug, Clone, Copy)]
struct Part {
    text: &'static str,
    /// Whether `#[async_task]` accepts this part.
    ok: bool,
}

const fn ok(text: &'static str) -> Part {
    Part { text, ok: true }
}

const fn bad(text: &'static str) -> Part {
    Part { text, ok: false }
}

const ATTRS: &[Part] = &[
    ok("/// Docs."),
    ok("#[doc = \"docs\"]"),
    ok("#[must_use]"),
    ok("#[inline]"),
    ok("#[allow(unused)]"),
    ok("#[cfg(all())]"),
    ok("#[deprecated = \"old\"]"),
    ok("#[async_task]"),
];
const VIS: &[Part] = &[
    ok(""),
    ok("pub"),
    ok("pub(crate)"),
    ok("pub(super)"),
    ok("pub(in crate::m)"),
];
const CONST: &[Part] = &[ok(""), bad("const")];
const ASYNC: &[Part] = &[ok("async"), bad("")];
const UNSAFE: &[Part] = &[ok(""), bad("unsafe")];
const EXTERN: &[Part] = &[ok(""), bad("extern \"C\""), bad("extern")];
const NAMES: &[Part] = &[
    ok("f"),
    ok("sync_users"),
    ok("r#loop"),
    ok("r#async"),
    ok("Context"),
    ok("ctx"),
    ok("naïve"),
    bad("_"),
];
const GENERICS: &[Part] = &[
    ok(""),
    ok("<>"),
    bad("<T>"),
    bad("<'a>"),
    bad("<T: Clone + Send>"),
    bad("<const N: usize>"),
];
const RECEIVERS: &[Part] = &[
    ok(""),
    bad("self"),
    bad("&self"),
    bad("&mut self"),
    bad("mut self"),
    bad("self: Arc<Self>"),
    bad("&'a self"),
];
const RETURNS: &[Part] = &[
    // The return type is the compiler's to check, not the macro's.
    ok(""),
    ok("-> ()"),
    ok("-> Result<(), BoxError>"),
    ok("-> anyhow::Result<()>"),
    ok("-> u8"),
    ok("-> impl Future<Output = ()>"),
    ok("-> !"),
    ok("-> Self"),
    ok("-> Result<(), &'a str>"),
];
const WHERES: &[Part] = &[
    ok(""),
    bad("where"),
    bad("where T: Clone"),
    bad("where Self: Sized"),
];
const BODIES: &[Part] = &[
    ok("{}"),
    ok("{ Ok(()) }"),
    ok("{ #![allow(unused)] let x = 1; }"),
    ok("{ self.x }"),
    ok("{ async {}.await; }"),
    ok("{ return; }"),
    ok("{ #![doc = \"inner\"] }"),
    ok("{ loop {} }"),
    bad(";"),
];

/// A parameter: accepted as the context (first), and accepted as another argument.
#[derive(Debug, Clone, Copy)]
struct Param {
    text: &'static str,
    as_ctx: bool,
    as_arg: bool,
}

const fn param(text: &'static str, as_ctx: bool, as_arg: bool) -> Param {
    Param {
        text,
        as_ctx,
        as_arg,
    }
}

const CONTEXTS: &[Param] = &[
    param("ctx: Context", true, true),
    param("_ctx: Context", true, true),
    param("_: Context", true, true),
    param("mut ctx: Context", true, true),
    param("ctx: async_tasks::Context", true, true),
    param("ctx: ::async_tasks::Context", true, true),
    param("(ctx): Context", true, true),
    param("ctx: (Context)", true, true),
    param("#[allow(unused)] ctx: Context", true, true),
    param("ctx: &Context", false, false),
    param("ref ctx: Context", false, false),
    param("ctx: Context<T>", false, true),
    param("#[cfg(x)] ctx: Context", false, false),
    param("ctx: Arc<Context>", false, true),
    param("ctx: &'static Context", false, true),
    param("ctx: <X as Y>::Context", false, true),
    param("ctx: Ctx", false, true),
];

const ARGS: &[Param] = &[
    param("a: u8", false, true),
    param("b: String", false, true),
    param("c: &str", false, false),
    param("d: &'static str", false, true),
    param("e: impl Send", false, false),
    param("f: Vec<&'a u8>", false, false),
    param("g: Box<dyn Fn(&str) + Send + Sync>", false, true),
    param("(x, y): (u8, u8)", false, true),
    param("ref h: u8", false, false),
    param("_: u8", false, true),
    param("#[cfg(test)] j: u8", false, false),
    param("k: [u8; 3]", false, true),
    param("l: fn(&str) -> &str", false, true),
    param("m: Box<dyn for<'b> Fn(&'b u8) + Send + Sync>", false, true),
    param("n: Self", false, true),
    param("o: Context", true, true),
    param("p: &'_ u8", false, false),
    param(
        "q: Option<Box<dyn std::error::Error + Send + Sync + 'static>>",
        false,
        true,
    ),
    param("r: Cow<'static, str>", false, true),
    param("s: &'static mut u8", false, true),
    param("mut t: Vec<u8>", false, true),
    param("u @ 1..=3: u8", false, true),
    param("v: impl Fn() + Clone", false, false),
    param("w: [&'static str; 2]", false, true),
];

/// One argument of the attribute: its key (for duplicates) and whether it is accepted.
#[derive(Debug, Clone, Copy)]
struct Arg {
    text: &'static str,
    key: Option<&'static str>,
    ok: bool,
}

const fn arg(text: &'static str, key: Option<&'static str>, ok: bool) -> Arg {
    Arg { text, key, ok }
}

const NAME: Option<&str> = Some("name");
const LEVEL: Option<&str> = Some("level");
const FIELDS: Option<&str> = Some("fields");
const CRATE: Option<&str> = Some("crate");

const ATTR_ARGS: &[Arg] = &[
    arg("name = \"sync-users\"", NAME, true),
    arg("name = r\"raw\"", NAME, true),
    arg("name = \"naïve\"", NAME, true),
    arg("name = \"\"", NAME, false),
    arg("name = \"  \"", NAME, false),
    arg("name = sync_users", NAME, false),
    arg("name = 1", NAME, false),
    arg("name = a::b", NAME, false),
    arg("name", NAME, false),
    arg("name =", NAME, false),
    arg("r#name = \"x\"", None, false),
    arg("Name = \"x\"", None, false),
    arg("level = \"debug\"", LEVEL, true),
    arg("level = \"Info\"", LEVEL, true),
    arg("level = Level::WARN", LEVEL, true),
    arg("level = tracing::Level::ERROR", LEVEL, true),
    arg("level = \"loud\"", LEVEL, false),
    arg("level = 3", LEVEL, false),
    arg("level = Level::LOUD", LEVEL, false),
    arg("level = <X as Y>::INFO", LEVEL, false),
    arg("level", LEVEL, false),
    arg("fields(a = 1)", FIELDS, true),
    arg("fields(a, b.c = %d, ?e, f = ?g)", FIELDS, true),
    arg("fields(%a = b, ?c = %d)", FIELDS, true),
    arg("fields(r#type = 1)", FIELDS, true),
    arg("fields(a.b.c)", FIELDS, true),
    arg("fields()", FIELDS, true),
    arg("fields(a,)", FIELDS, true),
    arg("fields(a, a)", FIELDS, false),
    arg("fields(error = 1)", FIELDS, false),
    arg("fields(otel.status_code = 1)", FIELDS, false),
    arg("fields(= 1)", FIELDS, false),
    arg("fields(a = )", FIELDS, false),
    arg("fields(,)", FIELDS, false),
    arg("fields", FIELDS, false),
    arg("fields = 1", FIELDS, false),
    arg("crate = my_crate", CRATE, true),
    arg("crate = ::a::b", CRATE, true),
    arg("crate = \"a::b\"", CRATE, true),
    arg("crate = crate::x", CRATE, true),
    arg("crate = \"1\"", CRATE, false),
    arg("crate = 1", CRATE, false),
    arg("crate", CRATE, false),
    arg("\"sync-users\"", None, false),
    arg("foo = 1", None, false),
    arg("1", None, false),
    arg("=", None, false),
    arg("#", None, false),
    arg("(a, b)", None, false),
    arg("::", None, false),
];

/// Separators between attribute arguments: accepted or not.
const SEPARATORS: &[Part] = &[ok(", "), ok(","), bad(" "), bad(",, ")];
const TRAILERS: &[Part] = &[ok(""), ok(","), bad(",,")];

/// Loose tokens for soups and for mutations that insert or replace a token.
const VOCAB: &[&str] = &[
    "async",
    "fn",
    "pub",
    "const",
    "unsafe",
    "extern",
    "\"C\"",
    "ctx",
    "Context",
    "self",
    "Self",
    "impl",
    "dyn",
    "where",
    "mut",
    "ref",
    "crate",
    "name",
    "level",
    "fields",
    "_",
    "r#loop",
    "async_tasks",
    "Level",
    "INFO",
    "Result",
    "Ok",
    "u8",
    "String",
    ":",
    "::",
    ";",
    ",",
    "=",
    "->",
    "=>",
    "&",
    "'a",
    "'static",
    "#",
    "!",
    "<",
    ">",
    "%",
    "?",
    ".",
    "..",
    "...",
    "@",
    "-",
    "+",
    "*",
    "|",
    "\"s\"",
    "\"\"",
    "1",
    "1.5",
    "'c'",
    "b\"x\"",
    "r#\"raw\"#",
    "async fn f(ctx: Context) {}",
    "ctx: Context",
    "name = \"x\"",
];

fn lex(text: &str) -> TokenStream {
    TokenStream::from_str(text)
        .unwrap_or_else(|err| panic!("generated text must lex: {err}: {text}"))
}

/// A generated `#[async_task(args)] item`, as text, and whether the macro must accept it.
#[derive(Debug, Clone)]
struct Shaped {
    args: String,
    item: String,
    accepted: bool,
}

fn pick(parts: &'static [Part]) -> impl Strategy<Value = Part> {
    prop::sample::select(parts)
}

fn attr_args() -> impl Strategy<Value = (String, bool)> {
    (
        prop::collection::vec((prop::sample::select(ATTR_ARGS), pick(SEPARATORS)), 0..5),
        pick(TRAILERS),
    )
        .prop_map(|(pieces, trailer)| {
            let mut text = String::new();
            let mut accepted = true;
            let mut keys = Vec::new();
            for (i, (piece, separator)) in pieces.iter().enumerate() {
                text.push_str(piece.text);
                accepted &= piece.ok;
                if let Some(key) = piece.key {
                    accepted &= !keys.contains(&key);
                    keys.push(key);
                }
                if i + 1 < pieces.len() {
                    text.push_str(separator.text);
                    accepted &= separator.ok;
                }
            }
            if !pieces.is_empty() {
                text.push_str(trailer.text);
                accepted &= trailer.ok;
            }
            (text, accepted)
        })
}

prop_compose! {
    fn signature_head()(
        attrs in prop::sample::subsequence(ATTRS, 0..3),
        vis in pick(VIS),
        constness in pick(CONST),
        asyncness in pick(ASYNC),
        unsafety in pick(UNSAFE),
        abi in pick(EXTERN),
        name in pick(NAMES),
        generics in pick(GENERICS),
    ) -> (String, bool) {
        let attrs: Vec<&str> = attrs.iter().map(|part| part.text).collect();
        let parts = [vis, constness, asyncness, unsafety, abi];
        let text = format!(
            "{}\n{} fn {}{}",
            attrs.join("\n"),
            parts.iter().map(|part| part.text).collect::<Vec<_>>().join(" "),
            name.text,
            generics.text,
        );
        let accepted = parts.iter().chain([&name, &generics]).all(|part| part.ok);
        (text, accepted)
    }
}

prop_compose! {
    fn fn_item()(
        (head, head_ok) in signature_head(),
        receiver in pick(RECEIVERS),
        ctx in prop::option::weighted(0.9, prop::sample::select(CONTEXTS)),
        args in prop::sample::subsequence(ARGS, 0..4).prop_shuffle(),
        ctx_last in prop::bool::weighted(0.1),
        variadic in prop::bool::weighted(0.05),
        ret in pick(RETURNS),
        where_clause in pick(WHERES),
        body in pick(BODIES),
    ) -> (String, bool) {
        let mut params: Vec<Param> = args;
        if let Some(ctx) = ctx {
            if ctx_last { params.push(ctx) } else { params.insert(0, ctx) }
        }
        let params_ok = match params.split_first() {
            Some((first, rest)) => first.as_ctx && rest.iter().all(|p| p.as_arg),
            None => false,
        };
        let mut list: Vec<&str> = params.iter().map(|p| p.text).collect();
        if !receiver.text.is_empty() {
            list.insert(0, receiver.text);
        }
        if variadic {
            list.push("...");
        }
        let text = format!(
            "{head}({}) {} {} {}",
            list.join(", "),
            ret.text,
            where_clause.text,
            body.text
        );
        let accepted = head_ok
            && params_ok
            && !variadic
            && [receiver, ret, where_clause, body].iter().all(|part| part.ok);
        (text, accepted)
    }
}

fn shaped() -> impl Strategy<Value = Shaped> {
    (attr_args(), fn_item()).prop_map(|((args, args_ok), (item, item_ok))| Shaped {
        args,
        item,
        accepted: args_ok && item_ok,
    })
}

/// A token tree of loose tokens, as text with balanced delimiters.
fn soup() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(VOCAB).prop_map(str::to_owned);
    let tree = leaf.prop_recursive(3, 48, 8, |inner| {
        (
            prop::sample::select(&["()", "[]", "{}"][..]),
            prop::collection::vec(inner, 0..8),
        )
            .prop_map(|(delims, parts)| {
                format!("{}{}{}", &delims[..1], parts.join(" "), &delims[1..])
            })
    });
    prop::collection::vec(tree, 0..16).prop_map(|trees| trees.join(" "))
}

/// One edit of a token stream, at the token numbered `at` in a pre-order walk of all
/// nesting levels.
#[derive(Debug, Clone)]
enum Edit {
    Drop,
    Duplicate,
    SwapWithNext,
    Replace(usize),
    InsertBefore(usize),
    Unwrap,
    Rewrap(usize),
}

fn edit() -> impl Strategy<Value = (Edit, usize)> {
    let edit = prop_oneof![
        Just(Edit::Drop),
        Just(Edit::Duplicate),
        Just(Edit::SwapWithNext),
        any::<usize>().prop_map(Edit::Replace),
        any::<usize>().prop_map(Edit::InsertBefore),
        Just(Edit::Unwrap),
        (0..3usize).prop_map(Edit::Rewrap),
    ];
    (edit, any::<usize>())
}

fn count(tokens: &[TokenTree]) -> usize {
    tokens
        .iter()
        .map(|tt| match tt {
            TokenTree::Group(group) => 1 + count(&group.stream().into_iter().collect::<Vec<_>>()),
            _ => 1,
        })
        .sum()
}

/// Applies `edit` at the token numbered `*at` (counting down), in place.
fn apply(tokens: &mut Vec<TokenTree>, edit: &Edit, at: &mut usize, vocab: &[TokenTree]) -> bool {
    let mut i = 0;
    while i < tokens.len() {
        if *at == 0 {
            match edit {
                Edit::Drop => {
                    tokens.remove(i);
                }
                Edit::Duplicate => tokens.insert(i, tokens[i].clone()),
                Edit::SwapWithNext if i + 1 < tokens.len() => tokens.swap(i, i + 1),
                Edit::SwapWithNext => {}
                Edit::Replace(v) => tokens[i] = vocab[v % vocab.len()].clone(),
                Edit::InsertBefore(v) => tokens.insert(i, vocab[v % vocab.len()].clone()),
                Edit::Unwrap => {
                    if let TokenTree::Group(group) = tokens[i].clone() {
                        tokens.splice(i..=i, group.stream());
                    }
                }
                Edit::Rewrap(d) => {
                    let delimiter =
                        [Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace][*d];
                    let span = tokens[i].span();
                    let inner = match &tokens[i] {
                        TokenTree::Group(group) => group.stream(),
                        other => TokenStream::from(other.clone()),
                    };
                    // The new group shows where its first token was, not at the call site.
                    let mut group = Group::new(delimiter, inner);
                    group.set_span(span);
                    tokens[i] = TokenTree::Group(group);
                }
            }
            return true;
        }
        *at -= 1;
        if let TokenTree::Group(group) = &tokens[i] {
            let mut inner: Vec<TokenTree> = group.stream().into_iter().collect();
            if apply(&mut inner, edit, at, vocab) {
                let mut edited = Group::new(group.delimiter(), inner.into_iter().collect());
                edited.set_span(group.span());
                tokens[i] = TokenTree::Group(edited);
                return true;
            }
        }
        i += 1;
    }
    false
}

fn mutate(tokens: TokenStream, edits: &[(Edit, usize)], vocab: &[TokenTree]) -> TokenStream {
    let mut tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (edit, at) in edits {
        let total = count(&tokens);
        if total == 0 {
            break;
        }
        apply(&mut tokens, edit, &mut (at % total), vocab);
    }
    tokens.into_iter().collect()
}

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

/// Errors known to be shown at the call site although a token exists to show them at: each
/// has a named test below that fails until it is fixed. Skipped by the properties, so that
/// they go on finding other problems.
const KNOWN_AT_CALL_SITE: &[&str] = &[];

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
    let output = expand(args, item);
    prop_assert!(!output.is_empty(), "no tokens at all");

    let mut errors = Vec::new();
    compile_errors(output.clone(), &mut errors);
    for (start, end, message) in &errors {
        // An attribute always sits on an item, so an item that stops before its `fn` (or
        // before anything) only comes from this test: its error has no token to point at.
        let nothing_to_point_at = is_syn_message(message)
            || (empty_item && message == "`#[async_task]` only applies to an `async fn`");
        if nothing_to_point_at || KNOWN_AT_CALL_SITE.contains(&message.as_str()) {
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

/// The errors of `expand(args, item)`, each with whether it is shown at the call site.
fn errors_of(args: &str, item: &str) -> Vec<(String, bool)> {
    let mut errors = Vec::new();
    compile_errors(expand(lex(args), lex(item)), &mut errors);
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
