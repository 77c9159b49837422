//! Checks that the function has the shape `#[async_task]` turns into a runner, and takes it
//! apart into a [`Task`]. Every problem of one item is reported, each on its own tokens.
//!
//! The accepted shape: `async fn NAME([receiver,] ctx: Context, args...) [-> R] { body }`
//! with
//! - no `const`, `unsafe`, `extern`, generics, `where` clause or `...`;
//! - a receiver, if any, of `&self`, `self` or `self: Arc<Self>` (not `&mut self`);
//! - a first argument (after the receiver) whose type is a path ending in `Context` (any
//!   pattern): [`context_position`], the one rule the fallback follows too;
//! - other arguments whose types own their data (no `impl Trait`, no borrows other than
//!   `'static` ones), bound by any pattern except a top-level `ref`, without `#[cfg]`.
//!
//! The return type is not checked here: the compiler checks it (`()` or `Result<(), E>`
//! with `E: Into<BoxError>`, aliases included), and reports it on the return type.

use quote::ToTokens as _;
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Attribute, FnArg, Ident, Pat, PatIdent, PatType, ReturnType, Token, Type, Visibility};

use crate::error::Errors;
use crate::item::{Body, ItemFn};
use crate::receiver::{Receiver, ReceiverKind};

/// A function that `#[async_task]` can expand.
pub(crate) struct Task {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) asyncness: Token![async],
    pub(crate) fn_token: Token![fn],
    pub(crate) ident: Ident,
    /// The span of the argument list's parentheses.
    pub(crate) paren_span: proc_macro2::Span,
    pub(crate) receiver: Option<Receiver>,
    pub(crate) ctx: PatType,
    pub(crate) args: Vec<PatType>,
    pub(crate) output: ReturnType,
    pub(crate) body: Body,
}

/// A function with errors, and what the check found of its shape: what the fallback needs
/// to declare a stand-in that its callers can call as they do.
pub(crate) struct Broken {
    pub(crate) item: ItemFn,
    /// Where the context is in `item.sig.inputs` (receiver included), if the check took an
    /// argument for it: the stand-in leaves it out, as the expansion would.
    pub(crate) ctx: Option<usize>,
}

/// The outcome of [`check`].
pub(crate) enum Checked {
    /// The item has the right shape (boxed, as the other case: both are large).
    Valid(Box<Task>),
    /// It does not: every problem found, and the item back for the fallback.
    Invalid(syn::Error, Box<Broken>),
}

/// Checks `item`.
pub(crate) fn check(item: ItemFn) -> Checked {
    let mut errors = Errors::default();
    check_signature(&item, &mut errors);
    let ctx_position = context_position(&item.sig.inputs);
    let receiver = check_receiver(&item, &mut errors);
    let (ctx, args) = check_inputs(&item, ctx_position, &mut errors);
    if let Err(semi) = &item.body {
        errors.push(syn::Error::new(
            semi.span,
            "an `#[async_task]` fn needs a body: the body is what each run runs",
        ));
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        body,
    } = item;
    match (ctx, sig.asyncness, body, errors.into_error()) {
        (Some(ctx), Some(asyncness), Ok(body), None) => Checked::Valid(Box::new(Task {
            attrs,
            vis,
            asyncness,
            fn_token: sig.fn_token,
            ident: sig.ident,
            paren_span: sig.paren_token.span.join(),
            receiver,
            ctx,
            args,
            output: sig.output,
            body,
        })),
        (_, _, body, err) => {
            let item = ItemFn {
                attrs,
                vis,
                sig,
                body,
            };
            // `check_*` report an error whenever they find no context, no `async` or no
            // body; the fallback only keeps that promise checked.
            let err = err.unwrap_or_else(|| match item.sig.asyncness {
                None => no_async(&item),
                Some(_) => no_context(&item),
            });
            Checked::Invalid(
                err,
                Box::new(Broken {
                    item,
                    ctx: ctx_position,
                }),
            )
        }
    }
}

/// Where the context is in `inputs`: the first argument after the receiver, when its type
/// is `Context` (by any path) or a reference to one (which the check rejects, but which is
/// meant as the context). The check and the fallback both go by this.
pub(crate) fn context_position(inputs: &Punctuated<FnArg, Token![,]>) -> Option<usize> {
    let (at, first) = inputs
        .iter()
        .enumerate()
        .find_map(|(at, input)| match input {
            FnArg::Typed(arg) => Some((at, arg)),
            FnArg::Receiver(_) => None,
        })?;
    let meant = is_context(&first.ty)
        || matches!(&*first.ty, Type::Reference(reference) if is_context(&reference.elem));
    meant.then_some(at)
}
fn check_signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "an `#[async_task]` fn cannot be `const`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new(
            unsafety.span,
            "an `#[async_task]` fn cannot be `unsafe`: runners are run by safe code, use an \
             `unsafe` block in the body instead",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "an `#[async_task]` fn cannot be `extern`: it becomes a Rust fn that builds a runner",
        ));
    }
    if sig.asyncness.is_none() {
        errors.push(no_async(item));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "an `#[async_task]` fn cannot be generic: the runner keeps its arguments, give them \
             concrete types",
        ));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        let message = "an `#[async_task]` fn cannot have a `where` clause";
        // An empty `where` prints no tokens, so `new_spanned` would fall back to the call
        // site: point at the keyword instead.
        errors.push(if where_clause.predicates.is_empty() {
            syn::Error::new(where_clause.where_token.span, message)
        } else {
            syn::Error::new_spanned(where_clause, message)
        });
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "an `#[async_task]` fn cannot be variadic",
        ));
    }
}

/// Checks the receiver, if any: `&self`, `self` and `self: Arc<Self>` are accepted.
fn check_receiver(item: &ItemFn, errors: &mut Errors) -> Option<Receiver> {
    let receiver = item.sig.receiver()?;
    match receiver_kind(receiver) {
        Ok(kind) => {
            // `mut self` binds mutably: that is for the body's local, not the generated fn.
            // (In `&mut self`, `mutability` is the reference's, which is rejected.)
            let mutability = receiver.mutability.filter(|_| receiver.reference.is_none());
            let mut decl = receiver.clone();
            if mutability.is_some() {
                decl.mutability = None;
            }
            Some(Receiver {
                kind,
                mutability,
                decl: decl.into_token_stream(),
                first: receiver
                    .reference
                    .as_ref()
                    .map(|(and, _)| and.span)
                    .or(receiver.mutability.map(|token| token.span))
                    .unwrap_or(receiver.self_token.span),
                self_span: receiver.self_token.span,
            })
        }
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

fn receiver_kind(receiver: &syn::Receiver) -> syn::Result<ReceiverKind> {
    let mut_ref = || {
        syn::Error::new_spanned(
            receiver,
            "an `#[async_task]` method cannot take `&mut self`: each run gets its own clone of \
             `self`, so a change would be lost; take `&self` and keep what changes behind a \
             `Mutex` or an atomic",
        )
    };
    if receiver.colon_token.is_none() {
        return match (&receiver.reference, &receiver.mutability) {
            (Some(_), Some(_)) => Err(mut_ref()),
            (Some(_), None) => Ok(ReceiverKind::Ref),
            (None, _) => Ok(ReceiverKind::Value),
        };
    }
    match &*receiver.ty {
        ty if is_self(ty) => Ok(ReceiverKind::Value),
        Type::Reference(reference) if is_self(&reference.elem) => match reference.mutability {
            Some(_) => Err(mut_ref()),
            None => Ok(ReceiverKind::Ref),
        },
        ty if is_arc_of_self(ty) => Ok(ReceiverKind::Arc(receiver.ty.clone())),
        ty => Err(syn::Error::new_spanned(
            ty,
            "an `#[async_task]` method takes `&self`, `self` or `self: Arc<Self>`: the runner \
             keeps `self` and hands each run a copy (a clone of `Self`, or of the `Arc`)",
        )),
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
}

/// `Arc<Self>`, by any path to `Arc`.
fn is_arc_of_self(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    path.qself.is_none()
        && last.ident == "Arc"
        && args.args.len() == 1
        && matches!(args.args.first(), Some(syn::GenericArgument::Type(ty)) if is_self(ty))
}

/// Checks the arguments but the receiver; returns the context argument (if it is right)
/// and the others.
fn check_inputs(
    item: &ItemFn,
    ctx_position: Option<usize>,
    errors: &mut Errors,
) -> (Option<PatType>, Vec<PatType>) {
    if ctx_position.is_none() {
        errors.push(missing_context(item));
    }
    let inputs = &item.sig.inputs;
    let mut ctx = None;
    let mut args = Vec::new();
    for (at, input) in inputs.iter().enumerate() {
        let FnArg::Typed(arg) = input else {
            continue;
        };
        if Some(at) == ctx_position {
            if is_context(&arg.ty) {
                check_arg_attrs(&arg.attrs, errors);
                if let Pat::Ident(PatIdent {
                    by_ref: Some(_), ..
                }) = &*arg.pat
                {
                    errors.push(ref_binding(&arg.pat));
                }
                ctx = Some(arg.clone());
            } else {
                // A `&Context`: the context, taken wrongly.
                errors.push(syn::Error::new_spanned(
                    &arg.ty,
                    "an `#[async_task]` fn takes its `Context` by value, write `Context`",
                ));
            }
        } else {
            check_arg(arg, errors);
            args.push(arg.clone());
        }
    }
    (ctx, args)
}

fn no_async(item: &ItemFn) -> syn::Error {
    syn::Error::new(
        item.sig.fn_token.span,
        "`#[async_task]` only applies to an `async fn`, add `async` before `fn`",
    )
}

fn no_context(item: &ItemFn) -> syn::Error {
    syn::Error::new(
        item.sig.paren_token.span.join(),
        "an `#[async_task]` fn takes the run's context as its first argument, add `ctx: Context`",
    )
}

/// Whether `ty` names a `Context` by value: a path whose last segment is `Context`, such
/// as `Context` or `async_tasks::Context`. The compiler checks that it is ours.
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "Context" && last.arguments.is_empty())
        }
        Type::Group(group) => is_context(&group.elem),
        Type::Paren(paren) => is_context(&paren.elem),
        _ => false,
    }
}

/// The error for a fn whose first argument is not the context.
fn missing_context(item: &ItemFn) -> syn::Error {
    let mut typed = item.sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(arg) => Some(arg),
        FnArg::Receiver(_) => None,
    });
    let Some(first) = typed.next() else {
        return no_context(item);
    };
    match typed.find(|arg| is_context(&arg.ty)) {
        Some(ctx) => syn::Error::new_spanned(
            ctx,
            "the `Context` must be the first argument of an `#[async_task]` fn, move it first",
        ),
        None => syn::Error::new_spanned(
            first,
            "the first argument of an `#[async_task]` fn must be the run's context, add \
             `ctx: Context` before this one",
        ),
    }
}

fn check_arg(arg: &PatType, errors: &mut Errors) {
    check_arg_attrs(&arg.attrs, errors);
    if let Pat::Ident(PatIdent {
        by_ref: Some(_), ..
    }) = &*arg.pat
    {
        errors.push(ref_binding(&arg.pat));
    }
    let mut owned = Owned { errors };
    owned.visit_type(&arg.ty);
}

fn check_arg_attrs(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs {
        if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[cfg]` on an argument of an `#[async_task]` fn is not supported",
            ));
        }
    }
}

fn ref_binding(pat: &Pat) -> syn::Error {
    syn::Error::new_spanned(
        pat,
        "an `#[async_task]` argument cannot be bound by `ref`: the runner owns its arguments, \
         bind it by value",
    )
}

/// Finds argument types that cannot be kept in a `'static` runner.
struct Owned<'e> {
    errors: &'e mut Errors,
}

impl Visit<'_> for Owned<'_> {
    fn visit_type_impl_trait(&mut self, ty: &syn::TypeImplTrait) {
        self.errors.push(syn::Error::new_spanned(
            ty,
            "an `#[async_task]` argument cannot be `impl Trait`: the runner keeps its \
             arguments, give it a concrete type (or a `Box<dyn Trait + Send + Sync>`)",
        ));
    }

    fn visit_type_reference(&mut self, ty: &syn::TypeReference) {
        match &ty.lifetime {
            Some(lifetime) if lifetime.ident == "static" => syn::visit::visit_type(self, &ty.elem),
            _ => self.errors.push(borrowed(ty)),
        }
    }

    fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
        if lifetime.ident != "static" {
            self.errors.push(borrowed(lifetime));
        }
    }

    // Lifetimes inside these are their own (`dyn for<'a> Fn(&'a str)`), not borrows.
    fn visit_bound_lifetimes(&mut self, _: &syn::BoundLifetimes) {}
    fn visit_type_bare_fn(&mut self, _: &syn::TypeBareFn) {}
    fn visit_parenthesized_generic_arguments(&mut self, _: &syn::ParenthesizedGenericArguments) {}
}

fn borrowed(tokens: &dyn quote::ToTokens) -> syn::Error {
    syn::Error::new_spanned(
        tokens,
        "an `#[async_task]` argument cannot borrow: the runner keeps its arguments for every \
         run, so they must be `'static`; pass an owned value or an `Arc`",
    )
}
