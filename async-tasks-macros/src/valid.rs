//! Checks that the function has the shape `#[async_task]` turns into a runner, and takes it
//! apart into a [`Task`]. Every problem of one item is reported, each on its own tokens.
//!
//! The accepted shape: `async fn NAME(ctx: Context, args...) [-> R]` with
//! - no `const`, `unsafe`, `extern`, generics, `where` clause, receiver or `...`;
//! - a first argument whose type is a path ending in `Context` (any pattern);
//! - other arguments whose types own their data (no `impl Trait`, no borrows other than
//!   `'static` ones), bound by any pattern except a top-level `ref`, without `#[cfg]`.
//!
//! The return type is not checked here: the compiler checks it (`()` or `Result<(), E>`
//! with `E: Into<BoxError>`, aliases included), and reports it on the return type.

use syn::visit::Visit;
use syn::{Attribute, FnArg, Ident, Pat, PatIdent, PatType, ReturnType, Token, Type, Visibility};

use crate::error::Errors;
use crate::item::{Body, ItemFn};

/// A function that `#[async_task]` can expand.
pub(crate) struct Task {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) asyncness: Token![async],
    pub(crate) fn_token: Token![fn],
    pub(crate) ident: Ident,
    /// The span of the argument list's parentheses.
    pub(crate) paren_span: proc_macro2::Span,
    pub(crate) ctx: PatType,
    pub(crate) args: Vec<PatType>,
    pub(crate) output: ReturnType,
    pub(crate) body: Body,
}

/// The outcome of [`check`].
pub(crate) enum Checked {
    /// The item has the right shape (boxed, as the other case: both are large).
    Valid(Box<Task>),
    /// It does not: every problem found, and the item back for the fallback expansion.
    Invalid(syn::Error, Box<ItemFn>),
}

/// Checks `item`.
pub(crate) fn check(item: ItemFn) -> Checked {
    let mut errors = Errors::default();
    check_signature(&item, &mut errors);
    let (ctx, args) = check_inputs(&item, &mut errors);
    let (ctx, asyncness) = match (ctx, item.sig.asyncness, errors.into_error()) {
        (Some(ctx), Some(asyncness), None) => (ctx, asyncness),
        (_, _, Some(err)) => return Checked::Invalid(err, Box::new(item)),
        // `check_*` report an error whenever they find no context or no `async`; this only
        // keeps that promise checked.
        (None, _, None) => return Checked::Invalid(no_context(&item), Box::new(item)),
        (_, None, None) => return Checked::Invalid(no_async(&item), Box::new(item)),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        body,
    } = item;
    Checked::Valid(Box::new(Task {
        attrs,
        vis,
        asyncness,
        fn_token: sig.fn_token,
        ident: sig.ident,
        paren_span: sig.paren_token.span.join(),
        ctx,
        args,
        output: sig.output,
        body,
    }))
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

/// Checks the arguments; returns the context argument (if found) and the others.
fn check_inputs(item: &ItemFn, errors: &mut Errors) -> (Option<PatType>, Vec<PatType>) {
    let mut typed = Vec::new();
    for input in &item.sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "an `#[async_task]` fn cannot take `self`: the runner keeps its arguments \
                 and clones them for every run, pass what it needs (e.g. an `Arc`) as an \
                 argument",
            )),
            FnArg::Typed(arg) => typed.push(arg.clone()),
        }
    }

    let mut args = typed.into_iter().peekable();
    let ctx = match args.peek() {
        Some(first) if is_context(&first.ty) => args.next(),
        Some(first) => {
            errors.push(missing_context(first, &item.sig.inputs));
            // A `&Context` is the context, taken wrongly; anything else is checked as an
            // argument, as if the context were there.
            if matches!(&*first.ty, Type::Reference(reference) if is_context(&reference.elem)) {
                args.next();
            }
            None
        }
        None => {
            errors.push(no_context(item));
            None
        }
    };
    if let Some(ctx) = &ctx {
        check_arg_attrs(&ctx.attrs, errors);
        if let Pat::Ident(PatIdent {
            by_ref: Some(_), ..
        }) = &*ctx.pat
        {
            errors.push(ref_binding(&ctx.pat));
        }
    }

    let args: Vec<PatType> = args.collect();
    for arg in &args {
        check_arg(arg, errors);
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

fn missing_context(
    first: &PatType,
    inputs: &syn::punctuated::Punctuated<FnArg, syn::Token![,]>,
) -> syn::Error {
    if let Type::Reference(reference) = &*first.ty {
        if is_context(&reference.elem) {
            return syn::Error::new_spanned(
                &first.ty,
                "an `#[async_task]` fn takes its `Context` by value, write `Context`",
            );
        }
    }
    let later_context = inputs.iter().skip(1).find_map(|input| match input {
        FnArg::Typed(arg) if is_context(&arg.ty) => Some(arg),
        _ => None,
    });
    match later_context {
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

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
        let item: ItemFn = syn::parse2(tokens).unwrap();
        match check(item) {
            Checked::Valid(_) => Vec::new(),
            Checked::Invalid(err, _) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_any_context_pattern_and_path() {
        for item in [
            quote!(
                async fn f(ctx: Context) {}
            ),
            quote!(
                async fn f(_ctx: Context, a: u8) {}
            ),
            quote!(
                async fn f(mut ctx: ::async_tasks::Context) -> Result<(), E> {}
            ),
            quote!(
                async fn f(_: at::Context, (a, b): (u8, u8), s: &'static str) {}
            ),
            quote!(
                pub async fn f(ctx: Context, f: Box<dyn for<'a> Fn(&'a str) + Send>) {}
            ),
        ] {
            assert_eq!(errors(item), Vec::<String>::new());
        }
    }

    #[test]
    fn the_context_comes_first_by_value() {
        assert_eq!(
            errors(quote!(
                async fn f() {}
            )),
            [
                "an `#[async_task]` fn takes the run's context as its first argument, add \
              `ctx: Context`"
            ]
        );
        assert_eq!(
            errors(quote!(
                async fn f(db: Db) {}
            )),
            [
                "the first argument of an `#[async_task]` fn must be the run's context, add \
              `ctx: Context` before this one"
            ]
        );
        assert_eq!(
            errors(quote!(
                async fn f(db: Db, ctx: Context) {}
            )),
            ["the `Context` must be the first argument of an `#[async_task]` fn, move it first"]
        );
        assert_eq!(
            errors(quote!(
                async fn f(ctx: &Context) {}
            )),
            ["an `#[async_task]` fn takes its `Context` by value, write `Context`"]
        );
    }

    #[test]
    fn every_problem_of_one_item_is_reported() {
        let found = errors(quote!(
            const unsafe extern "C" fn f<T>(&self, a: impl Send, b: &str, c: Cow<'a, str>) {}
        ));
        assert_eq!(found.len(), 10, "{found:#?}");
        for (found, expected) in found.iter().zip([
            "an `#[async_task]` fn cannot be `const`",
            "an `#[async_task]` fn cannot be `unsafe`",
            "an `#[async_task]` fn cannot be `extern`",
            "`#[async_task]` only applies to an `async fn`",
            "an `#[async_task]` fn cannot be generic",
            "an `#[async_task]` fn cannot take `self`",
            "the first argument of an `#[async_task]` fn must be the run's context",
            "an `#[async_task]` argument cannot be `impl Trait`",
            "an `#[async_task]` argument cannot borrow",
            "an `#[async_task]` argument cannot borrow",
        ]) {
            assert!(found.starts_with(expected), "{found} != {expected}");
        }
    }

    #[test]
    fn borrows_other_than_static_are_rejected() {
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, a: &'static str) {}
            ))
            .len(),
            0
        );
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, a: &'a str) {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, a: Vec<&str>) {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, a: Cow<'_, str>) {}
            ))
            .len(),
            1
        );
    }

    #[test]
    fn ref_bindings_and_cfg_arguments_are_rejected() {
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, ref a: String) {}
            )),
            [
                "an `#[async_task]` argument cannot be bound by `ref`: the runner owns its \
              arguments, bind it by value"
            ]
        );
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context, #[cfg(test)] a: String) {}
            )),
            ["`#[cfg]` on an argument of an `#[async_task]` fn is not supported"]
        );
    }

    #[test]
    fn a_where_clause_alone_is_rejected() {
        assert_eq!(
            errors(quote!(
                async fn f(ctx: Context)
                where
                    u8: Copy,
                {
                }
            )),
            ["an `#[async_task]` fn cannot have a `where` clause"]
        );
    }
}
