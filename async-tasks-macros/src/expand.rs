//! Code generation: a checked [`Task`] becomes a plain fn that builds a runner; a broken
//! item becomes a stub of the same name next to its errors. Expansion reports no errors of
//! its own: it only turns what parsing and checking found into `compile_error!`s.
//!
//! What the generated code relies on:
//! - every path is absolute: `::core::…`, or `<crate>::…` where `<crate>` is
//!   `::async_tasks` or the `crate = path` argument; tracing is reached through
//!   `<crate>::__private::tracing`, so the user's crate needs no other dependency;
//! - every local the macro introduces has `Span::mixed_site()` hygiene and an
//!   `__async_task_` prefix, so it can neither see nor shadow the user's names;
//! - the user's types, patterns and body keep their tokens and spans, so the compiler's
//!   errors point at them.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{
    AttrStyle, Attribute, Ident, LitStr, Pat, PatIdent, Path, ReturnType, Type, parse_quote,
};

use crate::attr::{self, Args, Field, FieldKind, Level};
use crate::error::Errors;
use crate::fallback;
use crate::item::{Body, ItemFn};
use crate::valid::{self, Checked, Task};

/// The whole of `#[async_task(args)] item`, from tokens to tokens.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, args_error) = attr::parse(args);
    let mut errors = Errors::default();
    errors.extend(args_error);
    let krate = args
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::async_tasks));

    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(err) => {
            // Not a function: leave the item as it is, so that only this error shows.
            errors.push(err);
            return with_errors(item, errors);
        }
    };
    let tokens = match valid::check(item_fn) {
        Checked::Valid(task) => runner(&args, &krate, *task),
        Checked::Invalid(err, item_fn) => {
            errors.push(err);
            fallback::stub(&krate, *item_fn)
        }
    };
    with_errors(tokens, errors)
}

fn with_errors(mut tokens: TokenStream, errors: Errors) -> TokenStream {
    if let Some(err) = errors.into_error() {
        tokens.extend(err.into_compile_error());
    }
    tokens
}

/// Hygienic names of the generated locals: `Span::mixed_site()`, so that the user's code
/// can neither see nor shadow them, each shown where errors about it belong.
struct Locals {
    /// The struct holding the arguments, shown at the argument list.
    args_struct: Ident,
    /// The runner's copy of the arguments.
    args: Ident,
    /// The run's context, shown at the user's context pattern.
    ctx: Ident,
    /// One per argument (but the context).
    each: Vec<Ident>,
}

/// The fn that builds the runner.
///
/// ```text
/// #[attrs] #[must_use] vis fn NAME(args...) -> impl Runner + Clone {
///     struct __AsyncTaskArgs(types...);         // Clone: each field by `CloneArg`
///     let __async_task_args = __AsyncTaskArgs(args...);
///     Func::named("span name", move |ctx| {
///         let __AsyncTaskArgs(args...) = __async_task_args.clone();
///         call("NAME", <Output as TaskOutput>::into_result, move || {
///             let <user patterns> = <args and ctx>;
///             (span!(level, "span name", fields..., failure fields...), async move { body })
///         })
///     })
/// }
/// ```
fn runner(args: &Args, krate: &Path, task: Task) -> TokenStream {
    let Task {
        attrs,
        vis,
        asyncness,
        fn_token,
        ident,
        paren_span,
        ctx,
        args: params,
        output,
        body,
    } = task;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()));
    let locals = Locals {
        args_struct: Ident::new("__AsyncTaskArgs", at(paren_span)),
        args: Ident::new("__async_task_args", Span::mixed_site()),
        ctx: Ident::new(
            "__async_task_ctx",
            Span::mixed_site().located_at(ctx.pat.span()),
        ),
        each: (0..params.len())
            .map(|i| Ident::new(&format!("__async_task_arg{i}"), Span::mixed_site()))
            .collect(),
    };

    let must_use = (!attrs.iter().any(|attr| attr.path().is_ident("must_use"))).then(|| {
        quote! {
            #[must_use = "this only builds the runner: run it with `Tasks::run`, `Tasks::run_loop` or `async_tasks::run`"]
        }
    });
    let inner_attrs = as_outer(&body.inner_attrs);
    // The outer fn's parameters: the user's name for a plain binding (without `mut`, which
    // only matters inside the body), a hidden one for other patterns.
    let outer_names: Vec<&Ident> = params
        .iter()
        .zip(&locals.each)
        .map(|(param, local)| match &*param.pat {
            Pat::Ident(PatIdent {
                by_ref: None,
                subpat: None,
                ident,
                ..
            }) => ident,
            _ => local,
        })
        .collect();
    let types: Vec<&Type> = params.iter().map(|param| &*param.ty).collect();
    let args_struct = args_struct(krate, &locals, &types);
    let Locals {
        args_struct: args_struct_name,
        args: args_local,
        ctx: ctx_local,
        each,
    } = &locals;

    // What a run does, at its first poll (`call`): bind the arguments, open the span, run
    // the body in it. Errors about the body's future (not `Send`, ...) point at `async`.
    let bindings = params.iter().zip(each).map(|(param, local)| {
        let attrs = &param.attrs;
        let pat = &param.pat;
        quote!(#(#attrs)* let #pat = #local;)
    });
    let (ctx_attrs, ctx_pat, ctx_ty) = (&ctx.attrs, &ctx.pat, &ctx.ty);
    let span = span_macro(args, krate, &name);
    let (into_result, body) = body_future(krate, &ident, &output, body);
    let start = quote_spanned! {at(paren_span)=>
        move || {
            #(#ctx_attrs)*
            let #ctx_pat: #ctx_ty = #ctx_local;
            #(#bindings)*
            (#span, #body)
        }
    };
    let call = respan(quote!(#krate::__private::call), at(asyncness.span));
    let call_args = group(
        Delimiter::Parenthesis,
        quote!(#name, #into_result, #start),
        asyncness.span,
    );
    let closure = quote_spanned! {at(paren_span)=>
        move |#ctx_local: #krate::Context| {
            let #args_struct_name(#(#each),*) = ::core::clone::Clone::clone(&#args_local);
            #call #call_args
        }
    };
    // The runner: errors about it (a closure that is not `Send`, ...) point at `async`.
    let func_named = respan(quote!(#krate::Func::named), at(asyncness.span));
    let func_args = group(
        Delimiter::Parenthesis,
        quote!(#name, #closure),
        asyncness.span,
    );

    quote! {
        #(#attrs)*
        #(#inner_attrs)*
        #must_use
        #vis #fn_token #ident(#(#outer_names: #types),*) -> impl #krate::Runner + ::core::clone::Clone {
            #args_struct
            let #args_local = #args_struct_name(#(#outer_names),*);
            #func_named #func_args
        }
    }
}

/// The struct that keeps the arguments, and its `Clone`: written out (no bounds) with
/// `<Ty as CloneArg>::clone_arg` at each type's tokens, so a type that is not `Clone` is
/// reported once, at that argument, and nowhere else.
fn args_struct(krate: &Path, locals: &Locals, types: &[&Type]) -> TokenStream {
    let name = &locals.args_struct;
    let each = &locals.each;
    let clones = types.iter().zip(each).map(|(ty, local)| {
        let span = at(ty.span());
        let clone_arg = respan(quote!(#krate::__private::CloneArg), span);
        quote_spanned!(span=> <#ty as #clone_arg>::clone_arg(#local))
    });
    quote! {
        struct #name(#(#types),*);

        impl ::core::clone::Clone for #name {
            #[inline]
            fn clone(&self) -> Self {
                let #name(#(#each),*) = self;
                #name(#(#clones),*)
            }
        }
    }
}

/// The `span!` of one run: the name, the level, the user's fields, and the fields `call`
/// records a failure in.
fn span_macro(args: &Args, krate: &Path, name: &LitStr) -> TokenStream {
    let tracing = quote!(#krate::__private::tracing);
    let empty = quote!(#tracing::field::Empty);
    let level = Ident::new(
        args.level.unwrap_or(Level::Info).constant(),
        Span::call_site(),
    );
    let fields = args
        .fields
        .iter()
        .flatten()
        .map(|field| span_field(field, &empty));
    quote! {
        #tracing::span!(
            #tracing::Level::#level,
            #name,
            #(#fields,)*
            // `attr::FAILURE_FIELDS`
            error = #empty,
            otel.status_code = #empty,
            otel.status_description = #empty,
            panic = #empty,
        )
    }
}

/// The body as an `async move` block with the fn's output type, and
/// `<Output as TaskOutput>::into_result`, written at the return type so that a wrong one is
/// reported there (at the fn's name when there is no return type).
fn body_future(
    krate: &Path,
    ident: &Ident,
    output: &ReturnType,
    body: Body,
) -> (TokenStream, TokenStream) {
    let (ret, ret_span) = match output {
        ReturnType::Default => (quote_spanned!(at(ident.span())=> ()), at(ident.span())),
        ReturnType::Type(_, ty) => (ty.to_token_stream(), at(ty.span())),
    };
    let task_output = respan(quote!(#krate::__private::TaskOutput), ret_span);
    let into_result = quote_spanned!(ret_span=> <#ret as #task_output>::into_result);
    // Fixes the block's output type before the body is checked (for `?` and `return`).
    let ret_local = Ident::new("__async_task_ret", Span::mixed_site().located_at(ret_span));
    let fix_output = quote_spanned! {ret_span=>
        if let ::core::option::Option::Some(#ret_local) = ::core::option::Option::None::<#ret> {
            return #ret_local;
        }
    };
    let body = group(Delimiter::Brace, body.stmts, body.brace.span.join());
    let future = quote! {
        async move {
            #fix_output
            #body
        }
    };
    (into_result, future)
}

/// The body's inner attributes (`#![allow(...)]`), as attributes of the generated fn.
pub(crate) fn as_outer(inner: &[Attribute]) -> Vec<Attribute> {
    inner
        .iter()
        .cloned()
        .map(|mut attr| {
            attr.style = AttrStyle::Outer;
            attr
        })
        .collect()
}

/// A group of `tokens` shown at `span`.
fn group(delimiter: Delimiter, tokens: TokenStream, span: Span) -> Group {
    let mut group = Group::new(delimiter, tokens);
    group.set_span(at(span));
    group
}

/// One `fields(...)` entry in `tracing::span!`'s syntax. A key without a value is declared
/// `Empty`, as `#[instrument]` does; `%key` / `?key` record the local of that name.
fn span_field(field: &Field, empty: &TokenStream) -> TokenStream {
    let name = &field.name;
    let sigil = match field.kind {
        FieldKind::Value => None,
        FieldKind::Display => Some(quote!(%)),
        FieldKind::Debug => Some(quote!(?)),
    };
    match (&field.value, &sigil) {
        (Some(value), _) => quote!(#name = #sigil #value),
        (None, None) => quote!(#name = #empty),
        (None, Some(sigil)) => quote!(#sigil #name),
    }
}

/// A span shown at `user`'s place but belonging to the expansion (not to the user's code),
/// so lints such as clippy's leave the generated code alone.
fn at(user: Span) -> Span {
    Span::call_site().located_at(user)
}

/// `tokens` with every span set to `span`, so that an error about them shows there.
/// Identifiers keep their hygiene: only their location moves.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            match &mut tt {
                TokenTree::Group(group) => {
                    let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                    inner.set_span(span);
                    tt = TokenTree::Group(inner);
                }
                TokenTree::Ident(ident) => ident.set_span(ident.span().located_at(span)),
                _ => tt.set_span(span),
            }
            tt
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(tokens: TokenStream, out: &mut Vec<String>) {
        for tt in tokens {
            match tt {
                TokenTree::Group(group) => idents(group.stream(), out),
                TokenTree::Ident(ident) => out.push(ident.to_string()),
                _ => {}
            }
        }
    }

    fn idents_of(tokens: TokenStream) -> Vec<String> {
        let mut out = Vec::new();
        idents(tokens, &mut out);
        out
    }

    fn compile_errors(tokens: &TokenStream) -> usize {
        idents_of(tokens.clone())
            .iter()
            .filter(|ident| *ident == "compile_error")
            .count()
    }

    #[test]
    fn example_expansion() {
        let out = expand(
            quote!(name = "sync-users", level = "debug", fields(db.name = %db.name, batch)),
            quote! {
                /// Syncs users.
                pub async fn sync_users(ctx: Context, db: Db, mut batch: usize) -> Result<(), Error> {
                    batch += 1;
                    db.sync(&ctx, batch).await?;
                    Ok(())
                }
            },
        );
        // `cargo test -p async-tasks-macros example_expansion -- --nocapture | rustfmt`
        println!("{out}");
        let out = out.to_string();
        assert!(out.starts_with("# [doc = r\" Syncs users.\"] # [must_use"));
        assert!(out.contains(
            "pub fn sync_users (db : Db , batch : usize) -> impl :: async_tasks :: Runner + :: core :: clone :: Clone"
        ));
        assert!(out.contains(":: async_tasks :: Func :: named (\"sync-users\""));
        assert!(out.contains(
            "tracing :: Level :: DEBUG , \"sync-users\" , db . name = % db . name , batch = "
        ));
        assert!(out.contains("let mut batch = __async_task_arg1 ;"));
        assert!(!out.contains("compile_error"));
    }

    #[test]
    fn crate_argument_replaces_every_path_to_async_tasks() {
        let out = expand(
            quote!(crate = renamed),
            quote!(
                async fn f(ctx: Context, a: u8) {}
            ),
        );
        let idents = idents_of(out);
        assert!(idents.contains(&"renamed".to_owned()));
        assert!(!idents.contains(&"async_tasks".to_owned()));
    }

    #[test]
    fn name_defaults_to_the_fn_name_without_raw_prefix() {
        let out = expand(
            quote!(),
            quote!(
                async fn r#loop(ctx: Context) {}
            ),
        )
        .to_string();
        assert!(out.contains("Func :: named (\"loop\""), "{out}");
        assert!(out.contains(":: INFO"), "{out}");
    }

    #[test]
    fn a_user_must_use_is_not_doubled() {
        let out = expand(
            quote!(),
            quote!(
                #[must_use]
                async fn f(ctx: Context) {}
            ),
        );
        let count = idents_of(out).iter().filter(|i| *i == "must_use").count();
        assert_eq!(count, 1);
    }

    #[test]
    fn inner_attributes_move_onto_the_fn() {
        let out = expand(
            quote!(),
            quote!(
                async fn f(ctx: Context) {
                    #![allow(unused)]
                    let x = 1;
                }
            ),
        )
        .to_string();
        assert!(out.starts_with("# [allow (unused)]"), "{out}");
        assert!(!out.contains("# !"), "{out}");
    }

    #[test]
    fn a_broken_fn_becomes_a_stub_next_to_all_its_errors() {
        let out = expand(
            quote!(nme = "x"),
            quote!(
                pub fn f(ctx: Context, a: impl Send, mut b: u8) {}
            ),
        );
        assert_eq!(compile_errors(&out), 3);
        let out = out.to_string();
        assert!(
            out.starts_with(
                "pub fn f (_ : impl Send , _ : u8) -> impl :: async_tasks :: Runner + :: core :: \
                 clone :: Clone { let _ : :: core :: option :: Option < Context > = :: core :: \
                 option :: Option :: None ; :: async_tasks :: __private :: Invalid }"
            ),
            "{out}"
        );
    }

    #[test]
    fn argument_errors_keep_the_full_expansion() {
        let out = expand(
            quote!(level = "loud"),
            quote!(
                async fn f(ctx: Context) {}
            ),
        );
        assert_eq!(compile_errors(&out), 1);
        let out = out.to_string();
        assert!(out.contains("Func :: named"), "{out}");
        assert!(out.contains(":: INFO"), "{out}");
    }

    #[test]
    fn other_items_are_kept_as_they_are() {
        let item = quote!(
            struct S;
        );
        let out = expand(quote!(name = "x"), item.clone());
        assert_eq!(compile_errors(&out), 1);
        assert!(out.to_string().starts_with(&item.to_string()));
    }

    #[test]
    fn generated_code_has_no_unwrap_and_only_absolute_paths() {
        let out = expand(
            quote!(fields(a = 1)),
            quote!(
                async fn f(ctx: Context, a: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let text = out.to_string();
        assert!(!text.contains("unwrap"), "{text}");
        // Every path the macro writes starts at `::`: `core`, `async_tasks` never appear
        // after anything but `::`.
        let tokens: Vec<TokenTree> = out.into_iter().collect();
        fn check(tokens: &[TokenTree]) {
            for (i, tt) in tokens.iter().enumerate() {
                match tt {
                    TokenTree::Group(group) => {
                        check(&group.stream().into_iter().collect::<Vec<_>>())
                    }
                    TokenTree::Ident(ident) if ident == "core" || ident == "async_tasks" => {
                        let before = i.checked_sub(1).map(|j| tokens[j].to_string());
                        assert_eq!(before.as_deref(), Some(":"), "relative `{ident}`");
                    }
                    _ => {}
                }
            }
        }
        check(&tokens);
    }
}
