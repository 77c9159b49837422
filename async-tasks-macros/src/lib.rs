//! The `#[async_task]` attribute. Placeholder until the macro lands.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Placeholder: passes the item through unchanged.
#[proc_macro_attribute]
pub fn async_task(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
