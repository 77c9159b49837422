//! What is emitted for a broken fn, next to its errors: a stub with the same name and
//! parameters that returns a runner, so that call sites type-check and the macro's errors
//! are the only ones (and IDEs keep working).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::visit::Visit;
use syn::{FnArg, Pat, Path, ReturnType, Type};

use crate::valid::Broken;

/// The item emitted next to the errors of a broken fn: same attributes, name, generics,
/// receiver and parameters, but the context (where the check found it, so that callers
/// pass what the real expansion would take), returning a runner that is never run.
///
/// Nothing in it can fail or warn on its own: the parameters are `_`, the return type is a
/// named type that borrows nothing (so a caller that keeps the runner past a borrowed
/// argument is not told that the argument does not live long enough), and the context's
/// and return types are named in the body, so that the `use`s they need stay used.
pub(crate) fn stub(krate: &Path, broken: Broken) -> TokenStream {
    let Broken { item, ctx } = broken;
    let inner_attrs = item
        .body
        .as_ref()
        .map(|body| body.inner_attrs_as_outer())
        .unwrap_or_default();
    let sig = item.sig;
    let mut named = Vec::new();
    let mut params = Vec::new();
    for (at, input) in sig.inputs.into_iter().enumerate() {
        match input {
            FnArg::Receiver(mut receiver) => {
                // `mut self` would be an unused `mut` (but `&mut self` stays as it is).
                if receiver.reference.is_none() {
                    receiver.mutability = None;
                }
                params.push(receiver.into_token_stream());
            }
            FnArg::Typed(arg) if Some(at) == ctx => named.push(arg.ty),
            FnArg::Typed(mut arg) => {
                // A `#[cfg]` the check rejected must not remove the parameter callers pass.
                arg.attrs.retain(|attr| {
                    !attr.path().is_ident("cfg") && !attr.path().is_ident("cfg_attr")
                });
                *arg.pat = Pat::Wild(syn::PatWild {
                    attrs: Vec::new(),
                    underscore_token: syn::token::Underscore::default(),
                });
                params.push(arg.into_token_stream());
            }
        }
    }
    if let ReturnType::Type(_, ty) = sig.output
        && can_name(&ty)
    {
        named.push(ty);
    }
    let attrs = &item.attrs;
    let vis = &item.vis;
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let fn_token = &sig.fn_token;
    let unsafety = &sig.unsafety;
    quote! {
        #(#attrs)*
        #(#inner_attrs)*
        #vis #unsafety #fn_token #ident #generics(#(#params),*)
            -> #krate::__private::AsyncTask<#krate::__private::Invalid>
            #where_clause
        {
            #(let _: ::core::option::Option<#named> = ::core::option::Option::None;)*
            #krate::__private::AsyncTask(#krate::__private::Invalid)
        }
    }
}

/// Whether `ty` can be written as `Option<ty>` in a `let`: not with `impl Trait`, `_` or
/// `!` in it.
fn can_name(ty: &Type) -> bool {
    struct Unnameable(bool);
    impl Visit<'_> for Unnameable {
        fn visit_type(&mut self, ty: &Type) {
            match ty {
                Type::ImplTrait(_) | Type::Infer(_) | Type::Never(_) | Type::Macro(_) => {
                    self.0 = true;
                }
                _ => syn::visit::visit_type(self, ty),
            }
        }
    }
    let mut found = Unnameable(false);
    found.visit_type(ty);
    !found.0
}
