//! Code generation: a checked [`Task`] becomes a plain fn that builds a runner. Expansion
//! reports no errors of its own, and is only given items that passed the check.
//!
//! What the generated code relies on:
//! - every path is absolute: `::core::…`, or `<crate>::…` where `<crate>` is
//!   `::async_tasks` or the `crate = path` argument; tracing is reached through
//!   `<crate>::__private::tracing`, so the user's crate needs no other dependency;
//! - every local the macro introduces has `Span::mixed_site()` hygiene and an
//!   `__async_task_` prefix, so it can neither see nor shadow the user's names; but
//!   `self_`, the body's `self`, which has the body's hygiene (see `receiver.rs`);
//! - the user's types, patterns and body keep their tokens and spans, so the compiler's
//!   errors point at them;
//! - no item is declared inside the fn, so `Self` in an argument's type or in the body
//!   means the `Self` of the impl block the fn is in.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Ident, LitStr, Pat, PatIdent, Path, ReturnType, Type};

use crate::attr::{Args, Field, FieldKind, Level};
use crate::item::Body;
use crate::receiver::{Receiver, ReceiverKind, rename_self, self_local};
use crate::valid::Task;

/// Hygienic names of the generated locals: `Span::mixed_site()`, so that the user's code
/// can neither see nor shadow them, each shown where errors about it belong.
struct Locals {
    /// The runner's copy of the arguments.
    args: Ident,
    /// The run's context, shown at the user's context pattern.
    ctx: Ident,
    /// The run's copy of `self`, shown at the receiver.
    this: Ident,
    /// One per argument (but the context and the receiver).
    each: Vec<Ident>,
}

/// The fn that builds the runner.
///
/// ```text
/// #[attrs] #[must_use] vis fn NAME([receiver,] args...) -> AsyncTask<impl Runner + Clone + 'static> {
///     // Clone: each argument by `CloneArg`, `self` by `CloneSelf`, at its tokens.
///     let __async_task_args = Args::new((self.., args...), |(..): &(Self, types...)| (clones..));
///     AsyncTask(Func::named("span name", move |ctx| {
///         let (self.., args...) = __async_task_args.get();
///         call("NAME", <Output as TaskOutput>::into_result, move || {
///             let <user patterns> = <args and ctx>;
///             (span!(target, level, "span name", fields..., failure fields...),
///              async move { [let self_ = &self..;] body })
///         })
///     }))
/// }
/// ```
pub(crate) fn runner(args: &Args, task: Task) -> TokenStream {
    let krate = args.krate();
    let krate = &krate;
    let Task {
        attrs,
        vis,
        asyncness,
        fn_token,
        ident,
        paren_span,
        receiver,
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
        args: Ident::new("__async_task_args", Span::mixed_site()),
        ctx: Ident::new(
            "__async_task_ctx",
            Span::mixed_site().located_at(ctx.pat.span()),
        ),
        this: Ident::new(
            "__async_task_self",
            Span::mixed_site().located_at(receiver.as_ref().map_or(paren_span, |r| r.self_span)),
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
    let inner_attrs = body.inner_attrs_as_outer();
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
    let kept = kept_args(krate, &locals, receiver.as_ref(), &outer_names, &types);
    let Locals {
        args: args_local,
        ctx: ctx_local,
        this,
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
    let (span, fields_use_self) = span_macro(args, krate, &name, receiver.as_ref());
    let (self_in_start, self_in_body) = self_bindings(receiver.as_ref(), this, fields_use_self);
    let (into_result, body) = body_future(
        krate,
        &ident,
        &output,
        body,
        receiver.as_ref(),
        self_in_body,
    );
    let start = quote_spanned! {at(paren_span)=>
        move || {
            #(#ctx_attrs)*
            let #ctx_pat: #ctx_ty = #ctx_local;
            #self_in_start
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
    let this_pat = receiver.as_ref().map(|_| quote!(#this,));
    let closure = quote_spanned! {at(paren_span)=>
        move |#ctx_local: #krate::Context| {
            let (#this_pat #(#each,)*) = #args_local.get();
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
    let receiver_decl = receiver.as_ref().map(|receiver| {
        let decl = &receiver.decl;
        quote!(#decl,)
    });

    // At `async` too: what the runner needs (`'static` for the generics of the impl block,
    // ...) is reported once, where the errors about the runner go.
    let async_task = respan(quote!(#krate::__private::AsyncTask), at(asyncness.span));
    let wrapped = group(
        Delimiter::Parenthesis,
        quote!(#func_named #func_args),
        asyncness.span,
    );
    let returns = respan(
        quote!(#krate::__private::AsyncTask<impl #krate::Runner + ::core::clone::Clone + 'static>),
        at(asyncness.span),
    );

    quote! {
        #(#attrs)*
        #(#inner_attrs)*
        #must_use
        #vis #fn_token #ident(#receiver_decl #(#outer_names: #types),*) -> #returns {
            #kept
            #async_task #wrapped
        }
    }
}

/// `let __async_task_args = Args::new(...)`: what the runner keeps (`self` first, then the
/// arguments), and the closure that clones it for each run, with
/// `<Ty as CloneArg>::clone_arg` at each type's tokens (`CloneSelf` at the receiver), so a
/// type that is not `Clone` is reported once, there, and nowhere else.
fn kept_args(
    krate: &Path,
    locals: &Locals,
    receiver: Option<&Receiver>,
    outer_names: &[&Ident],
    types: &[&Type],
) -> TokenStream {
    let Locals {
        args: args_local,
        this,
        each,
        ..
    } = locals;
    let clones = types.iter().zip(each).map(|(ty, local)| {
        let span = at(ty.span());
        let clone_arg = respan(quote!(#krate::__private::CloneArg), span);
        quote_spanned!(span=> <#ty as #clone_arg>::clone_arg(#local))
    });
    // `self` as the runner keeps it, its type, and its clone for a run.
    let (self_value, self_ty, self_clone) = match receiver {
        None => (None, None, None),
        Some(receiver) => {
            let span = at(receiver.self_span);
            let self_token = Ident::new("self", receiver.self_span);
            let (value, ty, clone) = match &receiver.kind {
                ReceiverKind::Ref | ReceiverKind::Value => {
                    // Shown from the receiver's first token to its `self`, so that a `Self`
                    // that is not `Clone` is reported on the whole receiver.
                    let clone_self = spanning(
                        quote!(<Self as #krate::__private::CloneSelf>::clone_self),
                        at(receiver.first),
                        span,
                    );
                    let value = match receiver.kind {
                        ReceiverKind::Ref => quote_spanned!(span=> #clone_self(#self_token)),
                        _ => self_token.to_token_stream(),
                    };
                    let clone = quote_spanned!(span=> #clone_self(#this));
                    (value, quote_spanned!(span=> Self), clone)
                }
                ReceiverKind::Arc(ty) => (
                    self_token.to_token_stream(),
                    ty.to_token_stream(),
                    quote_spanned!(span=> ::core::clone::Clone::clone(#this)),
                ),
            };
            (
                Some(quote!(#value,)),
                Some(quote!(#ty,)),
                Some(quote!(#clone,)),
            )
        }
    };
    let this_pat = receiver.map(|_| quote!(#this,));
    quote! {
        let #args_local = #krate::__private::Args::new(
            (#self_value #(#outer_names,)*),
            |(#this_pat #(#each,)*): &(#self_ty #(#types,)*)| (#self_clone #(#clones,)*),
        );
    }
}

/// How a run binds `self_`, the body's `self`: in the `start` closure (where the span's
/// fields are evaluated) and at the top of the body. `&self` lends the run's own clone to
/// the body, which owns it; `self` and `self: Arc<Self>` give it.
fn self_bindings(
    receiver: Option<&Receiver>,
    this: &Ident,
    fields_use_self: bool,
) -> (TokenStream, TokenStream) {
    let Some(receiver) = receiver else {
        return (TokenStream::new(), TokenStream::new());
    };
    let local = self_local(receiver.self_span);
    let mutability = &receiver.mutability;
    match receiver.kind {
        ReceiverKind::Ref => {
            let lend = quote! {
                #[allow(unused_variables)]
                let #local = &#this;
            };
            let start = if fields_use_self {
                lend.clone()
            } else {
                TokenStream::new()
            };
            (start, lend)
        }
        ReceiverKind::Value | ReceiverKind::Arc(_) => (
            quote! {
                #[allow(unused_variables)]
                let #mutability #local = #this;
            },
            TokenStream::new(),
        ),
    }
}

/// The `span!` of one run: the target, the name, the level, the user's fields, and the
/// fields `call` records a failure in, named by `__private::fields` (which
/// `attr::FAILURE_FIELDS` mirrors). Also whether a field's value names `self`.
fn span_macro(
    args: &Args,
    krate: &Path,
    name: &LitStr,
    receiver: Option<&Receiver>,
) -> (TokenStream, bool) {
    let tracing = quote!(#krate::__private::tracing);
    let fields = quote!(#krate::__private::fields);
    let empty = quote!(#tracing::field::Empty);
    let level = Ident::new(
        args.level.unwrap_or(Level::Info).constant(),
        Span::call_site(),
    );
    let target = args.target.as_ref().map(|target| quote!(target: #target,));
    let mut uses_self = false;
    let user_fields: Vec<TokenStream> = args
        .fields
        .iter()
        .flatten()
        .map(|field| {
            let (tokens, renamed) = span_field(field, &empty, receiver.is_some());
            uses_self |= renamed;
            tokens
        })
        .collect();
    let span = quote! {
        #tracing::span!(
            #target
            #tracing::Level::#level,
            #name,
            #(#user_fields,)*
            { #fields::ERROR } = #empty,
            { #fields::STATUS_CODE } = #empty,
            { #fields::STATUS_DESCRIPTION } = #empty,
            { #fields::PANIC } = #empty,
        )
    };
    (span, uses_self)
}

/// The body as an `async move` block with the fn's output type, and
/// `<Output as TaskOutput>::into_result`, written at the return type so that a wrong one is
/// reported there (at the fn's name when there is no return type).
///
/// `prelude` comes first in the block (the receiver's binding); with a receiver, the body's
/// `self` is renamed to the run's `self_`.
fn body_future(
    krate: &Path,
    ident: &Ident,
    output: &ReturnType,
    body: Body,
    receiver: Option<&Receiver>,
    prelude: TokenStream,
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
    let stmts = match receiver {
        Some(_) => rename_self(body.stmts).0,
        None => body.stmts,
    };
    let body = group(Delimiter::Brace, stmts, body.brace.span.join());
    let future = quote! {
        async move {
            #prelude
            #fix_output
            #body
        }
    };
    (into_result, future)
}

/// A group of `tokens` shown at `span`.
fn group(delimiter: Delimiter, tokens: TokenStream, span: Span) -> Group {
    let mut group = Group::new(delimiter, tokens);
    group.set_span(at(span));
    group
}

/// One `fields(...)` entry in `tracing::span!`'s syntax, and whether its value names
/// `self` (renamed to the run's `self_` when `rename` says there is a receiver). A key
/// without a value is declared `Empty`, as `#[instrument]` does; `%key` / `?key` record the
/// local of that name (written `key = %key`, so that only the value is renamed).
fn span_field(field: &Field, empty: &TokenStream, rename: bool) -> (TokenStream, bool) {
    let name = &field.name;
    let sigil = match field.kind {
        FieldKind::Value => None,
        FieldKind::Display => Some(quote!(%)),
        FieldKind::Debug => Some(quote!(?)),
    };
    let value = match (&field.value, &sigil) {
        (Some(value), _) => value.to_token_stream(),
        (None, None) => return (quote!(#name = #empty), false),
        (None, Some(_)) => name.to_token_stream(),
    };
    let (value, renamed) = match rename {
        true => rename_self(value),
        false => (value, false),
    };
    (quote!(#name = #sigil #value), renamed)
}

/// A span shown at `user`'s place but belonging to the expansion (not to the user's code),
/// so lints such as clippy's leave the generated code alone.
fn at(user: Span) -> Span {
    Span::call_site().located_at(user)
}

/// `tokens` shown from `first` to `last`: the compiler shows an expression from its first
/// token to its last, so an error about the whole of `tokens` underlines that stretch.
fn spanning(tokens: TokenStream, first: Span, last: Span) -> TokenStream {
    let mut tokens = respan(tokens, last).into_iter();
    let Some(mut head) = tokens.next() else {
        return TokenStream::new();
    };
    head.set_span(first);
    std::iter::once(head).chain(tokens).collect()
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
