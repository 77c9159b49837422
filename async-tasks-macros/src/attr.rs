//! The arguments of `#[async_task(...)]`: parsed into [`Args`], with every mistake turned
//! into a `syn::Error` on the narrowest token. Parsing never emits tokens.
//!
//! All errors of one attribute are reported together: after a bad argument the parser skips
//! to the next top-level comma and goes on.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::error::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(level);
    syn::custom_keyword!(target);
    syn::custom_keyword!(fields);
}

/// The accepted arguments, as the "unknown argument" error lists them.
const EXPECTED: &str = "expected one of `name`, `level`, `target`, `fields`, `crate`";

/// `#[tracing::instrument]`'s options that `#[async_task]` does not take, each with why and
/// what to do instead: someone used to `#[instrument]` writes them first.
const INSTRUMENT_ONLY: [(&str, &str); 6] = [
    (
        "skip",
        "`skip` is not needed: `#[async_task]` records no argument unless `fields(...)` names it",
    ),
    (
        "skip_all",
        "`skip_all` is not needed: `#[async_task]` records no argument unless `fields(...)` \
         names it",
    ),
    (
        "err",
        "`err` is not needed: `#[async_task]` records every error on the run's span (`error` \
         and the OpenTelemetry status), and the `Tasks` running it reports it",
    ),
    (
        "ret",
        "`ret` has nothing to record: an `#[async_task]` fn returns `()` or its error, and the \
         error is recorded",
    ),
    (
        "parent",
        "`parent` is not supported: a run's span is a child of the span current when the run \
         starts (under a `Tasks`, its `\"task\"` span)",
    ),
    (
        "follows_from",
        "`follows_from` is not supported: link the run's span from the body, with \
         `tracing::Span::current().follows_from(id)`",
    ),
];

/// The accepted levels, as the "unknown level" error lists them.
const LEVELS: &str =
    "expected one of `\"trace\"`, `\"debug\"`, `\"info\"`, `\"warn\"`, `\"error\"`";

/// Fields the generated span declares for recording a failure; user fields may not reuse them.
///
/// Mirrors `async_tasks::__private::fields::{ERROR, STATUS_CODE, STATUS_DESCRIPTION, PANIC}`,
/// which own these names: the expansion declares the fields through those constants, and
/// this list only serves the check of `fields(...)`, at compile time of the macro, where
/// the runtime's constants cannot be read. `ui-tests/fail/reserved-field.rs` pins each one.
pub(crate) const FAILURE_FIELDS: [&str; 4] = [
    "error",
    "otel.status_code",
    "otel.status_description",
    "panic",
];

/// The parsed arguments. Anything not given (or given wrongly) is `None` / empty, and the
/// expansion uses its default.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the span's name, a non-empty string literal.
    pub(crate) name: Option<LitStr>,
    /// `level = "..."`.
    pub(crate) level: Option<Level>,
    /// `target = "..."`: the span's target, a non-empty string literal (default: the
    /// module path, as for any `tracing` span).
    pub(crate) target: Option<LitStr>,
    /// `fields(...)`: extra span fields, in `#[tracing::instrument]`'s spelling.
    pub(crate) fields: Option<Vec<Field>>,
    /// `crate = path`: where `async_tasks` is, for a renamed or re-exported dependency.
    pub(crate) krate: Option<Path>,
}

impl Args {
    /// The path of the `async_tasks` crate: `crate = path`, or `::async_tasks`.
    pub(crate) fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::async_tasks))
    }
}

/// A span level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The level named `name` (any case), as `"debug"` or `Level::DEBUG` spell it.
    fn from_name(name: &str) -> Option<Level> {
        [
            ("trace", Level::Trace),
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("warn", Level::Warn),
            ("error", Level::Error),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, level)| level)
    }

    /// The name of the `tracing::Level` constant.
    pub(crate) fn constant(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One entry of `fields(...)`: `key`, `key = value`, `key = %value`, `key = ?value`,
/// `%key` or `?key` (the local of that name), or `%key = value` (same as `key = %value`),
/// where `key` may be dotted (`db.name`).
pub(crate) struct Field {
    pub(crate) name: Punctuated<Ident, Token![.]>,
    pub(crate) kind: FieldKind,
    /// `None`: a field declared `Empty`, to be recorded later (or, with `%`/`?`, the local
    /// variable of the same name).
    pub(crate) value: Option<Expr>,
}

/// How a field's value is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// As a `tracing::Value`.
    Value,
    /// `%`: with its `Display`.
    Display,
    /// `?`: with its `Debug`.
    Debug,
}

impl Field {
    /// The key as written, dots included (`db.name`).
    pub(crate) fn key(&self) -> String {
        self.name
            .iter()
            .map(|ident| ident.unraw().to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    fn parse(input: ParseStream<'_>) -> syn::Result<Field> {
        let mut kind = parse_sigil(input)?;
        let name = Punctuated::parse_separated_nonempty_with(input, Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            // As in `#[instrument]`, `%key = value` is `key = %value`; a sigil after the `=`
            // wins.
            let after = parse_sigil(input)?;
            if after != FieldKind::Value {
                kind = after;
            }
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Field { name, kind, value })
    }
}

fn parse_sigil(input: ParseStream<'_>) -> syn::Result<FieldKind> {
    if input.peek(Token![%]) {
        input.parse::<Token![%]>()?;
        Ok(FieldKind::Display)
    } else if input.peek(Token![?]) {
        input.parse::<Token![?]>()?;
        Ok(FieldKind::Debug)
    } else {
        Ok(FieldKind::Value)
    }
}

/// Parses the attribute's arguments. Returns what could be parsed, and the errors (combined
/// into one) if there were any.
pub(crate) fn parse(tokens: TokenStream) -> (Args, Option<syn::Error>) {
    let mut args = Args::default();
    let mut errors = Errors::default();
    let parser = |input: ParseStream<'_>| {
        parse_all(input, &mut args, &mut errors);
        Ok(())
    };
    if let Err(err) = parser.parse2(tokens) {
        // `parse_all` consumes everything, so this is not expected; report it anyway.
        errors.push(err);
    }
    (args, errors.into_error())
}

fn parse_all(input: ParseStream<'_>, args: &mut Args, errors: &mut Errors) {
    while !input.is_empty() {
        if let Err(err) = parse_arg(input, args) {
            errors.push(err);
            skip_to_comma(input);
        }
        if input.is_empty() {
            break;
        }
        if let Err(err) = input.parse::<Token![,]>() {
            errors.push(err);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
}

/// Skips the rest of a bad argument: everything up to the next top-level comma (groups are
/// single tokens, so commas inside `fields(...)` are not top-level).
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn parse_arg(input: ParseStream<'_>, args: &mut Args) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::name) {
        let key = input.parse::<kw::name>()?;
        input.parse::<Token![=]>()?;
        let name = parse_name(input)?;
        set_once(&mut args.name, "name", key.span, name)
    } else if lookahead.peek(kw::level) {
        let key = input.parse::<kw::level>()?;
        input.parse::<Token![=]>()?;
        let level = parse_level(input)?;
        set_once(&mut args.level, "level", key.span, level)
    } else if lookahead.peek(kw::target) {
        let key = input.parse::<kw::target>()?;
        input.parse::<Token![=]>()?;
        let target = parse_target(input)?;
        set_once(&mut args.target, "target", key.span, target)
    } else if lookahead.peek(kw::fields) {
        let key = input.parse::<kw::fields>()?;
        let content;
        syn::parenthesized!(content in input);
        let fields = content
            .parse_terminated(Field::parse, Token![,])
            .inspect_err(|_| {
                // Consume the rest, or `syn` adds an "unexpected token" error of its own.
                let _ = content.parse::<TokenStream>();
            })?;
        check_fields(&fields)?;
        set_once(
            &mut args.fields,
            "fields",
            key.span,
            fields.into_iter().collect(),
        )
    } else if lookahead.peek(Token![crate]) {
        let key = input.parse::<Token![crate]>()?;
        let eq = input.parse::<Token![=]>()?;
        let path = parse_crate_path(input, eq.span)?;
        set_once(&mut args.krate, "crate", key.span, path)
    } else if input.peek(LitStr) {
        let lit = input.parse::<LitStr>()?;
        Err(syn::Error::new(
            lit.span(),
            format!(
                "a string on its own is not an argument, write `name = {}` to name the span",
                quote::quote!(#lit)
            ),
        ))
    } else if input.peek(Ident::peek_any) {
        let ident = input.call(Ident::parse_any)?;
        let message = match INSTRUMENT_ONLY.iter().find(|(key, _)| ident == key) {
            Some((_, why)) => (*why).to_owned(),
            None => format!("unknown argument `{ident}`, {EXPECTED}"),
        };
        Err(syn::Error::new(ident.span(), message))
    } else {
        Err(lookahead.error())
    }
}

/// The "set once" rule shared by every argument: a second occurrence is an error on its key.
fn set_once<T>(slot: &mut Option<T>, key: &str, span: Span, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("duplicate argument `{key}`, give each argument once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_name(input: ParseStream<'_>) -> syn::Result<LitStr> {
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) => {
            if name.value().trim().is_empty() {
                Err(syn::Error::new(
                    name.span(),
                    "the span name cannot be empty, give a name or leave `name` out to use the \
                     function's name",
                ))
            } else {
                Ok(name)
            }
        }
        Expr::Path(path) if path.path.get_ident().is_some() => {
            let ident = path.path.get_ident().map(Ident::unraw);
            Err(syn::Error::new_spanned(
                &path,
                format!(
                    "`name` takes a string literal, write `name = \"{}\"`",
                    ident.map(|ident| ident.to_string()).unwrap_or_default()
                ),
            ))
        }
        other => Err(syn::Error::new_spanned(
            &other,
            "`name` takes a string literal (the span name is fixed at compile time), e.g. \
             `name = \"sync-users\"`",
        )),
    }
}

fn parse_target(input: ParseStream<'_>) -> syn::Result<LitStr> {
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(target),
            ..
        }) if !target.value().trim().is_empty() => Ok(target),
        Expr::Lit(ExprLit {
            lit: Lit::Str(target),
            ..
        }) => Err(syn::Error::new(
            target.span(),
            "the span target cannot be empty, give a target or leave `target` out to use the \
             module path",
        )),
        other => Err(syn::Error::new_spanned(
            &other,
            "`target` takes a string literal (a span's target is fixed at compile time), e.g. \
             `target = \"billing\"`",
        )),
    }
}

fn parse_level(input: ParseStream<'_>) -> syn::Result<Level> {
    let value: Expr = input.parse()?;
    let (name, what) = match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => (lit.value(), format!("{}", quote::quote!(#lit))),
        Expr::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) => (last.ident.to_string(), last.ident.to_string()),
            None => (String::new(), String::new()),
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &value,
                format!("`level` takes a string literal, {LEVELS}"),
            ));
        }
    };
    Level::from_name(&name)
        .ok_or_else(|| syn::Error::new_spanned(&value, format!("unknown level `{what}`, {LEVELS}")))
}

/// `eq` is the span of the `=` before the path, where an error goes when nothing follows.
fn parse_crate_path(input: ParseStream<'_>, eq: Span) -> syn::Result<Path> {
    if input.peek(LitStr) {
        let lit = input.parse::<LitStr>()?;
        return lit.parse_with(Path::parse_mod_style).map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!("`crate` takes a path, e.g. `crate = {}`", lit.value()),
            )
        });
    }
    // The error of a path cut short (`crate = my_crate::`) is at the end of the input,
    // which is the call site: point at where the path starts instead, or at the `=` when
    // there is no path at all.
    let start = if input.is_empty() { eq } else { input.span() };
    input.call(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            start,
            "`crate` takes the path of the `async_tasks` crate, e.g. `crate = my_async_tasks`",
        )
    })
}

/// Rejects duplicate keys and the keys the generated span declares for failures.
fn check_fields(fields: &Punctuated<Field, Token![,]>) -> syn::Result<()> {
    let mut errors = Errors::default();
    let mut seen = Vec::new();
    for field in fields {
        let key = field.key();
        if FAILURE_FIELDS.contains(&key.as_str()) {
            errors.push(syn::Error::new_spanned(
                &field.name,
                format!(
                    "field `{key}` is recorded by `#[async_task]` when a run fails, choose \
                     another name"
                ),
            ));
        } else if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(
                &field.name,
                format!("duplicate field `{key}`"),
            ));
        } else {
            seen.push(key);
        }
    }
    errors.into_error().map_or(Ok(()), Err)
}

// Unit tests only for what the ui tests cannot see: the values parsed. Every message is
// pinned by a `ui-tests/fail/*.stderr`; that errors point at a token (never the call site)
// by `tests::fuzz`.
#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok(tokens: TokenStream) -> Args {
        match parse(tokens) {
            (args, None) => args,
            (_, Some(err)) => panic!("unexpected error: {err}"),
        }
    }

    #[test]
    fn every_argument_once_with_a_trailing_comma() {
        let args = ok(quote!(
            name = "sync-users",
            level = "DEBUG",
            target = "billing",
            fields(db.name = %db, batch, ?who, n = ?n, plain = 1 + 2, r#type = 3),
            crate = ::my::at,
        ));
        assert_eq!(
            args.name.map(|name| name.value()).as_deref(),
            Some("sync-users")
        );
        assert_eq!(args.level, Some(Level::Debug));
        assert_eq!(
            args.target.map(|target| target.value()).as_deref(),
            Some("billing")
        );
        let fields: Vec<_> = args
            .fields
            .iter()
            .flatten()
            .map(|f| (f.key(), f.kind, f.value.is_some()))
            .collect();
        assert_eq!(
            fields,
            [
                ("db.name".to_owned(), FieldKind::Display, true),
                ("batch".to_owned(), FieldKind::Value, false),
                ("who".to_owned(), FieldKind::Debug, false),
                ("n".to_owned(), FieldKind::Debug, true),
                ("plain".to_owned(), FieldKind::Value, true),
                // A raw identifier's key loses its `r#`, as tracing's field name does.
                ("type".to_owned(), FieldKind::Value, true),
            ]
        );
        let krate = args.krate.map(|path| quote!(#path).to_string());
        assert_eq!(krate.as_deref(), Some(":: my :: at"));
    }

    #[test]
    fn levels_as_strings_in_any_case_or_as_tracing_paths() {
        for (tokens, level) in [
            (quote!(level = "trace"), Level::Trace),
            (quote!(level = "Info"), Level::Info),
            (quote!(level = Level::WARN), Level::Warn),
            (quote!(level = tracing::Level::ERROR), Level::Error),
        ] {
            assert_eq!(ok(tokens).level, Some(level));
        }
    }

    #[test]
    fn a_sigil_before_the_key_applies_to_the_value_unless_the_value_has_one() {
        let args = ok(quote!(fields(%a = b, ?c = %d)));
        let kinds: Vec<_> = args.fields.iter().flatten().map(|f| f.kind).collect();
        assert_eq!(kinds, [FieldKind::Display, FieldKind::Display]);
    }
}
