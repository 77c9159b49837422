//! The `self` of an `#[async_task]` method: the receivers it accepts, and how `self` reaches
//! the body.
//!
//! The runner keeps `self` as it keeps the other arguments (a clone of `Self` for `&self`
//! and `self`, the `Arc` for `self: Arc<Self>`), and each run gets its own copy. A run's body
//! is an `async` block inside closures, where `self` cannot be bound: [`rename_self`] turns
//! the body's `self` into a local of the run ([`self_local`]), which holds `&Self`, `Self` or
//! the `Arc` as the receiver said, so the body reads as it did in the method. (The
//! method's own `self` is still in scope there, so a `self` left unrenamed would borrow the
//! caller's value past the call: the renaming covers format strings' `{self}` too.)

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream, TokenTree};
use syn::{Token, Type};

/// An accepted receiver.
pub(crate) struct Receiver {
    pub(crate) kind: ReceiverKind,
    /// `mut self` / `mut self: Arc<Self>`: the run's local is mutable.
    pub(crate) mutability: Option<Token![mut]>,
    /// The receiver as the generated fn declares it: as written, without `mut` (which only
    /// matters to the body).
    pub(crate) decl: TokenStream,
    /// Where the receiver starts (`&`, `mut` or `self`) and its `self` token: errors about
    /// `Self` underline the one to the other.
    pub(crate) first: Span,
    pub(crate) self_span: Span,
}

/// How the runner keeps `self`.
pub(crate) enum ReceiverKind {
    /// `&self` (or `self: &Self`): a clone of `Self`, lent to the body.
    Ref,
    /// `self` (or `self: Self`): a clone of `Self`, given to the body.
    Value,
    /// `self: Arc<Self>`: the `Arc`, given to the body.
    Arc(Box<Type>),
}

/// The local that stands for `self` in a run, shown at `span` (a `self` token).
///
/// Call-site hygiene, as the body's own names have: a format string's `{self}` becomes
/// `{self_}`, and the name a format string captures resolves among the user's names.
pub(crate) fn self_local(span: Span) -> Ident {
    Ident::new("self_", Span::call_site().located_at(span))
}

/// The macros whose string arguments are format strings (by the last segment of their
/// path), in which `{self}` and `{self:?}` capture `self`.
const FORMAT_MACROS: [&str; 24] = [
    "format",
    "format_args",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "unreachable",
    "todo",
    "unimplemented",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "event",
];

/// More format macros, of `anyhow`.
const ANYHOW_MACROS: [&str; 3] = ["anyhow", "bail", "ensure"];

/// `tokens` with each `self` that means the receiver replaced by [`self_local`], and whether
/// there was one.
///
/// Also renamed: `{self}` and `{self:…}` in the string arguments of the format macros
/// (`println!`, `format!`, `tracing::info!`, `anyhow::bail!`, ...), which capture `self`.
/// Left alone: `self` in paths (`self::item`, `use a::{self}`, `$self` in a `macro_rules!`),
/// and inside nested `impl` and `trait` blocks, whose methods have a `self` of their own.
pub(crate) fn rename_self(tokens: TokenStream) -> (TokenStream, bool) {
    let mut renamed = false;
    let tokens = rename(tokens, false, &mut renamed);
    (tokens, renamed)
}

fn rename(tokens: TokenStream, format_args: bool, renamed: &mut bool) -> TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Ident(ident) if ident == "self" && !in_path(&tokens, i) => {
                out.push(TokenTree::Ident(self_local(ident.span())));
                *renamed = true;
            }
            // `name!(...)`: its string arguments are format strings if `name` says so.
            TokenTree::Ident(ident)
                if matches!(
                    (tokens.get(i + 1), tokens.get(i + 2)),
                    (Some(bang), Some(TokenTree::Group(_))) if is_punct(bang, '!')
                ) =>
            {
                let name = ident.to_string();
                let formats = FORMAT_MACROS.contains(&name.as_str())
                    || ANYHOW_MACROS.contains(&name.as_str());
                if let (Some(bang), Some(TokenTree::Group(group))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let mut inner =
                        Group::new(group.delimiter(), rename(group.stream(), formats, renamed));
                    inner.set_span(group.span());
                    out.extend([tokens[i].clone(), bang.clone(), TokenTree::Group(inner)]);
                }
                i += 3;
                continue;
            }
            TokenTree::Literal(literal) if format_args => {
                out.push(TokenTree::Literal(rename_in_format_string(
                    literal, renamed,
                )));
            }
            // `use` trees (`use std::io::{self, Write};`) are paths: keep up to the `;`.
            TokenTree::Ident(ident) if ident == "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|tt| is_punct(tt, ';'))
                    .map_or(tokens.len(), |at| i + at + 1);
                out.extend_from_slice(&tokens[i..end]);
                i = end;
                continue;
            }
            // A nested `impl` or `trait` block: keep up to and with its braces.
            TokenTree::Ident(ident) if ident == "impl" || ident == "trait" => {
                let end = tokens[i..]
                    .iter()
                    .position(
                        |tt| matches!(tt, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace),
                    )
                    .map_or(tokens.len(), |at| i + at + 1);
                out.extend_from_slice(&tokens[i..end]);
                i = end;
                continue;
            }
            TokenTree::Group(group) => {
                let mut inner =
                    Group::new(group.delimiter(), rename(group.stream(), false, renamed));
                inner.set_span(group.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other.clone()),
        }
        i += 1;
    }
    out.into_iter().collect()
}

/// `literal` with `{self}` and `{self:…}` made `{self_}` / `{self_:…}`, if it is a string
/// (a `{` that escapes another, `{{self}}`, is text, not a capture).
fn rename_in_format_string(literal: &Literal, renamed: &mut bool) -> Literal {
    let text = literal.to_string();
    if !(text.starts_with('"') || text.starts_with("r\"") || text.starts_with("r#")) {
        return literal.clone();
    }
    let mut out = String::with_capacity(text.len() + 4);
    let mut braces = 0;
    let mut rest = text.as_str();
    while let Some(ch) = rest.chars().next() {
        if ch == '{' {
            braces += 1;
        } else {
            // An odd run of `{` opens a placeholder with its last one.
            let opens = braces % 2 == 1;
            braces = 0;
            if opens
                && rest.starts_with("self")
                && matches!(rest[4..].chars().next(), Some('}' | ':'))
            {
                out.push_str("self_");
                rest = &rest[4..];
                *renamed = true;
                continue;
            }
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    match out.parse::<Literal>() {
        Ok(mut renamed_literal) if out != text => {
            renamed_literal.set_span(literal.span());
            renamed_literal
        }
        _ => literal.clone(),
    }
}

/// Whether the `self` at `i` is a path segment: `self::…`, `…::self`, `$self`.
fn in_path(tokens: &[TokenTree], i: usize) -> bool {
    let followed_by_colons = matches!(
        (tokens.get(i + 1), tokens.get(i + 2)),
        (Some(a), Some(b)) if is_punct(a, ':') && is_punct(b, ':')
    );
    let after_colons = i >= 2 && is_punct(&tokens[i - 1], ':') && is_punct(&tokens[i - 2], ':');
    let after_dollar = i >= 1 && is_punct(&tokens[i - 1], '$');
    followed_by_colons || after_colons || after_dollar
}

fn is_punct(tt: &TokenTree, ch: char) -> bool {
    matches!(tt, TokenTree::Punct(p) if p.as_char() == ch)
}
