//! The item under `#[async_task]`, parsed as a function whose body stays raw tokens.
//!
//! The body is not parsed: it is handed back to the compiler as written (same tokens, same
//! spans), so errors in it point into it, and syntax this version of `syn` does not know
//! still works.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Token, Visibility, token};

/// A function item: `#[attrs] vis sig { #![inner] body }`.
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Body,
}

/// A function body, unparsed except for its inner attributes.
pub(crate) struct Body {
    pub(crate) brace: token::Brace,
    /// `#![...]` at the top of the body: they go onto the generated function.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) stmts: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<ItemFn> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !starts_fn(input) {
            return Err(syn::Error::new(
                first_token_span(input),
                "`#[async_task]` only applies to an `async fn`",
            ));
        }
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            let semi = input.parse::<Token![;]>()?;
            return Err(syn::Error::new(
                semi.span,
                "an `#[async_task]` fn needs a body: the body is what each run runs",
            ));
        }
        let content;
        let brace = syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body: Body {
                brace,
                inner_attrs,
                stmts,
            },
        })
    }
}

/// Whether a function signature starts here (after the attributes and visibility).
fn starts_fn(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    let _ = fork.parse::<Option<Token![const]>>();
    let _ = fork.parse::<Option<Token![async]>>();
    let _ = fork.parse::<Option<Token![unsafe]>>();
    let _ = fork.parse::<Option<syn::Abi>>();
    fork.peek(Token![fn])
}

fn first_token_span(input: ParseStream<'_>) -> Span {
    input
        .cursor()
        .token_tree()
        .map_or_else(|| input.span(), |(tt, _)| tt.span())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn body_is_kept_as_tokens_with_inner_attributes_apart() {
        let item: ItemFn = syn::parse2(quote! {
            /// Docs.
            pub(crate) async fn run(ctx: Context) -> Result<(), E> {
                #![allow(unused)]
                let x = 1;
                Ok(())
            }
        })
        .unwrap();
        assert_eq!(item.attrs.len(), 1);
        assert_eq!(item.sig.ident, "run");
        assert_eq!(item.body.inner_attrs.len(), 1);
        assert_eq!(item.body.stmts.to_string(), "let x = 1 ; Ok (())");
    }

    #[test]
    fn other_items_and_bodiless_fns_are_rejected() {
        let err = syn::parse2::<ItemFn>(quote!(
            pub struct S;
        ))
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "`#[async_task]` only applies to an `async fn`"
        );
        let err = syn::parse2::<ItemFn>(quote!(
            async fn f(ctx: Context);
        ))
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "an `#[async_task]` fn needs a body: the body is what each run runs"
        );
    }
}
