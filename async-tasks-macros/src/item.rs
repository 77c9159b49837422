//! The item under `#[async_task]`, parsed as a function whose body stays raw tokens. A leaf:
//! the check, the expansion and the fallback all read it.
//!
//! The body is not parsed: it is handed back to the compiler as written (same tokens, same
//! spans), so errors in it point into it, and syntax this version of `syn` does not know
//! still works.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{AttrStyle, Attribute, Signature, Token, Visibility, token};

/// A function item: `#[attrs] vis sig { #![inner] body }`, or `#[attrs] vis sig;`.
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `Err(;)` for a fn without a body (which the check rejects).
    pub(crate) body: Result<Body, Token![;]>,
}

/// A function body, unparsed except for its inner attributes.
pub(crate) struct Body {
    pub(crate) brace: token::Brace,
    /// `#![...]` at the top of the body: they go onto the generated function.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) stmts: TokenStream,
}

impl Body {
    /// The body's inner attributes (`#![allow(...)]`), as attributes of the generated fn.
    pub(crate) fn inner_attrs_as_outer(&self) -> Vec<Attribute> {
        self.inner_attrs
            .iter()
            .cloned()
            .map(|mut attr| {
                attr.style = AttrStyle::Outer;
                attr
            })
            .collect()
    }
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
            return Ok(ItemFn {
                attrs,
                vis,
                sig,
                body: Err(semi),
            });
        }
        let content;
        let brace = syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body: Ok(Body {
                brace,
                inner_attrs,
                stmts,
            }),
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
