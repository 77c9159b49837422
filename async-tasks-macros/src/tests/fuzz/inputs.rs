//! What the fuzz properties feed the macro: the parts generated fns are assembled from
//! (each known to be accepted or not), attribute arguments, token soups, and the edits that
//! mangle them.

use std::str::FromStr;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use proptest::prelude::*;

/// One choice for a part of a generated fn.
#[derive(Debug, Clone, Copy)]
pub(super) struct Part {
    text: &'static str,
    /// Whether `#[async_task]` accepts this part.
    ok: bool,
}

pub(super) const fn ok(text: &'static str) -> Part {
    Part { text, ok: true }
}

pub(super) const fn bad(text: &'static str) -> Part {
    Part { text, ok: false }
}

pub(super) const ATTRS: &[Part] = &[
    ok("/// Docs."),
    ok("#[doc = \"docs\"]"),
    ok("#[must_use]"),
    ok("#[inline]"),
    ok("#[allow(unused)]"),
    ok("#[cfg(all())]"),
    ok("#[deprecated = \"old\"]"),
    ok("#[async_task]"),
];
pub(super) const VIS: &[Part] = &[
    ok(""),
    ok("pub"),
    ok("pub(crate)"),
    ok("pub(super)"),
    ok("pub(in crate::m)"),
];
pub(super) const CONST: &[Part] = &[ok(""), bad("const")];
pub(super) const ASYNC: &[Part] = &[ok("async"), bad("")];
pub(super) const UNSAFE: &[Part] = &[ok(""), bad("unsafe")];
pub(super) const EXTERN: &[Part] = &[ok(""), bad("extern \"C\""), bad("extern")];
pub(super) const NAMES: &[Part] = &[
    ok("f"),
    ok("sync_users"),
    ok("r#loop"),
    ok("r#async"),
    ok("Context"),
    ok("ctx"),
    ok("naïve"),
    bad("_"),
];
pub(super) const GENERICS: &[Part] = &[
    ok(""),
    ok("<>"),
    bad("<T>"),
    bad("<'a>"),
    bad("<T: Clone + Send>"),
    bad("<const N: usize>"),
];
pub(super) const RECEIVERS: &[Part] = &[
    ok(""),
    ok("self"),
    ok("&self"),
    ok("mut self"),
    ok("self: Self"),
    ok("self: &Self"),
    ok("self: Arc<Self>"),
    ok("mut self: std::sync::Arc<Self>"),
    ok("&'a self"),
    bad("&mut self"),
    bad("self: &mut Self"),
    bad("self: Box<Self>"),
    bad("self: Arc<Svc>"),
];
pub(super) const RETURNS: &[Part] = &[
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
pub(super) const WHERES: &[Part] = &[
    ok(""),
    bad("where"),
    bad("where T: Clone"),
    bad("where Self: Sized"),
];
pub(super) const BODIES: &[Part] = &[
    ok("{}"),
    ok("{ Ok(()) }"),
    ok("{ #![allow(unused)] let x = 1; }"),
    ok("{ self.x }"),
    ok("{ async {}.await; }"),
    ok("{ return; }"),
    ok("{ #![doc = \"inner\"] }"),
    ok("{ loop {} }"),
    ok("{ let _ = (self, Self::f); }"),
    ok("{ use std::io::{self, Write}; }"),
    ok("{ impl X { fn f(&self) { self.g() } } }"),
    bad(";"),
];

/// A parameter: accepted as the context (first), and accepted as another argument.
#[derive(Debug, Clone, Copy)]
pub(super) struct Param {
    text: &'static str,
    as_ctx: bool,
    as_arg: bool,
}

pub(super) const fn param(text: &'static str, as_ctx: bool, as_arg: bool) -> Param {
    Param {
        text,
        as_ctx,
        as_arg,
    }
}

pub(super) const CONTEXTS: &[Param] = &[
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

pub(super) const ARGS: &[Param] = &[
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
pub(super) struct Arg {
    text: &'static str,
    key: Option<&'static str>,
    ok: bool,
}

pub(super) const fn arg(text: &'static str, key: Option<&'static str>, ok: bool) -> Arg {
    Arg { text, key, ok }
}

pub(super) const NAME: Option<&str> = Some("name");
pub(super) const LEVEL: Option<&str> = Some("level");
pub(super) const TARGET: Option<&str> = Some("target");
pub(super) const FIELDS: Option<&str> = Some("fields");
pub(super) const CRATE: Option<&str> = Some("crate");

pub(super) const ATTR_ARGS: &[Arg] = &[
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
    arg("target = \"billing\"", TARGET, true),
    arg("target = \"\"", TARGET, false),
    arg("target = billing", TARGET, false),
    arg("target", TARGET, false),
    arg("skip_all", None, false),
    arg("skip(a, b)", None, false),
    arg("err", None, false),
    arg("err(Debug)", None, false),
    arg("ret", None, false),
    arg("parent = None", None, false),
    arg("follows_from = [id]", None, false),
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
pub(super) const SEPARATORS: &[Part] = &[ok(", "), ok(","), bad(" "), bad(",, ")];
pub(super) const TRAILERS: &[Part] = &[ok(""), ok(","), bad(",,")];

/// Loose tokens for soups and for mutations that insert or replace a token.
pub(super) const VOCAB: &[&str] = &[
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
    "target",
    "Arc",
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

pub(super) fn lex(text: &str) -> TokenStream {
    TokenStream::from_str(text)
        .unwrap_or_else(|err| panic!("generated text must lex: {err}: {text}"))
}

/// A generated `#[async_task(args)] item`, as text, and whether the macro must accept it.
#[derive(Debug, Clone)]
pub(super) struct Shaped {
    pub(super) args: String,
    pub(super) item: String,
    pub(super) accepted: bool,
}

pub(super) fn pick(parts: &'static [Part]) -> impl Strategy<Value = Part> {
    prop::sample::select(parts)
}

pub(super) fn attr_args() -> impl Strategy<Value = (String, bool)> {
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

pub(super) fn shaped() -> impl Strategy<Value = Shaped> {
    (attr_args(), fn_item()).prop_map(|((args, args_ok), (item, item_ok))| Shaped {
        args,
        item,
        accepted: args_ok && item_ok,
    })
}

/// A token tree of loose tokens, as text with balanced delimiters.
pub(super) fn soup() -> impl Strategy<Value = String> {
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
pub(super) enum Edit {
    Drop,
    Duplicate,
    SwapWithNext,
    Replace(usize),
    InsertBefore(usize),
    Unwrap,
    Rewrap(usize),
}

pub(super) fn edit() -> impl Strategy<Value = (Edit, usize)> {
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

pub(super) fn count(tokens: &[TokenTree]) -> usize {
    tokens
        .iter()
        .map(|tt| match tt {
            TokenTree::Group(group) => 1 + count(&group.stream().into_iter().collect::<Vec<_>>()),
            _ => 1,
        })
        .sum()
}

/// Applies `edit` at the token numbered `*at` (counting down), in place.
pub(super) fn apply(
    tokens: &mut Vec<TokenTree>,
    edit: &Edit,
    at: &mut usize,
    vocab: &[TokenTree],
) -> bool {
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

pub(super) fn mutate(
    tokens: TokenStream,
    edits: &[(Edit, usize)],
    vocab: &[TokenTree],
) -> TokenStream {
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
