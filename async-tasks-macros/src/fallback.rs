//! What is emitted for a broken fn, next to its errors: a stub with the same name and
//! parameters that returns a runner, so that call sites type-check and the macro's errors
//! are the only ones (and IDEs keep working).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{FnArg, Pat, Path};

use crate::expand::as_outer;
use crate::item::ItemFn;

/// The item emitted next to the errors of a broken fn: same attributes, name, generics
/// and parameters (but the context), returning a runner that is never run. Call sites keep
/// type-checking, so the macro's errors are the only ones.
pub(crate) fn stub(krate: &Path, item: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        body,
    } = item;
    let inner_attrs = as_outer(&body.inner_attrs);
    let mut ctx_ty = None;
    let mut first_typed = true;
    let mut params = Vec::new();
    for input in sig.inputs {
        match input {
            FnArg::Receiver(receiver) => params.push(receiver.into_token_stream()),
            FnArg::Typed(arg) if first_typed && is_context_like(&arg.ty) => {
                first_typed = false;
                ctx_ty = Some(arg.ty);
            }
            FnArg::Typed(mut arg) => {
                first_typed = false;
                // Unused in the stub: `_` keeps it free of warnings.
                *arg.pat = Pat::Wild(syn::PatWild {
                    attrs: Vec::new(),
                    underscore_token: syn::token::Underscore::default(),
                });
                params.push(arg.into_token_stream());
            }
        }
    }
    // Names the dropped context's type, so that its `use` does not turn unused.
    let ctx_ty =
        ctx_ty.map(|ty| quote!(let _: ::core::option::Option<#ty> = ::core::option::Option::None;));
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let fn_token = &sig.fn_token;
    let unsafety = &sig.unsafety;
    quote! {
        #(#attrs)*
        #(#inner_attrs)*
        #vis #unsafety #fn_token #ident #generics(#(#params),*) -> impl #krate::Runner + ::core::clone::Clone #where_clause {
            #ctx_ty
            #krate::__private::Invalid
        }
    }
}

/// The stub drops a first argument that looks like the context (even a wrong one, such as
/// `&Context`), as the real expansion does.
fn is_context_like(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Context"),
        syn::Type::Reference(reference) => is_context_like(&reference.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn stub_of(item: TokenStream) -> String {
        let item: ItemFn = syn::parse2(item).unwrap();
        stub(&syn::parse_quote!(::async_tasks), item).to_string()
    }

    #[test]
    fn the_stub_keeps_the_receiver_and_drops_only_a_leading_context() {
        let out = stub_of(quote!(
            async fn f(&self, ctx: Context, n: u8) {}
        ));
        assert!(out.starts_with("fn f (& self , _ : u8)"), "{out}");
        let out = stub_of(quote!(
            async fn f(n: u8, ctx: Context) {}
        ));
        assert!(out.starts_with("fn f (_ : u8 , _ : Context)"), "{out}");
        let out = stub_of(quote!(
            async fn f(ctx: &Context, n: u8) {}
        ));
        assert!(out.starts_with("fn f (_ : u8)"), "{out}");
    }
}
