//! The shape of what the attribute emits, where the compiler would accept something else
//! too: absolute paths only (a relative one compiles until the user shadows it), no
//! `unwrap`, and the stub emitted next to errors (its parameters decide whether callers
//! compile, which the ui tests see only for the cases they have).

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

use crate::attribute;

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

/// Every path the macro writes starts at `::`: `core`, `std` and `async_tasks` never appear
/// after anything but `::`.
fn assert_absolute_paths(tokens: &[TokenTree]) {
    for (i, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Group(group) => {
                assert_absolute_paths(&group.stream().into_iter().collect::<Vec<_>>())
            }
            TokenTree::Ident(ident)
                if ident == "core" || ident == "std" || ident == "async_tasks" =>
            {
                let before = i.checked_sub(1).map(|j| tokens[j].to_string());
                assert_eq!(before.as_deref(), Some(":"), "relative `{ident}`");
            }
            _ => {}
        }
    }
}

#[test]
fn generated_code_has_no_unwrap_and_only_absolute_paths() {
    let cases = [
        // A free fn with every option.
        (
            quote!(name = "n", level = "debug", target = "t", fields(a = 1, %b, ?c)),
            quote!(
                async fn f(ctx: Context, b: u8, c: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
        ),
        // Methods, whose `self` the runner keeps.
        (
            quote!(fields(id = self.id)),
            quote!(
                async fn f(&self, ctx: Context, (x, y): (u8, u8)) {}
            ),
        ),
        (
            quote!(),
            quote!(
                async fn f(mut self: Arc<Self>, ctx: Context) {}
            ),
        ),
        // The stub next to errors.
        (
            quote!(level = "loud"),
            quote!(
                fn f(&self, ctx: &Context, a: &str) -> Result<(), BoxError> {}
            ),
        ),
    ];
    for (args, item) in cases {
        for (krate_args, renamed) in [(quote!(), false), (quote!(crate = renamed), true)] {
            let args = if args.is_empty() {
                krate_args.clone()
            } else if krate_args.is_empty() {
                args.clone()
            } else {
                quote!(#args, #krate_args)
            };
            let out = attribute(args, item.clone());
            let text = out.to_string();
            assert!(!text.contains("unwrap"), "{text}");
            assert_absolute_paths(&out.clone().into_iter().collect::<Vec<_>>());
            if renamed {
                // `crate = path` replaces every path to the crate.
                assert!(
                    !idents_of(out).contains(&"async_tasks".to_owned()),
                    "{text}"
                );
            }
        }
    }
}

/// The stub's signature: `fn NAME(params) -> AsyncTask<Invalid>`, as text.
fn stub_signature(item: TokenStream) -> String {
    let out = attribute(TokenStream::new(), item).to_string();
    assert!(out.contains("compile_error"), "not broken: {out}");
    let end = out.find(" -> ").expect("a return type");
    let start = out.find("fn ").expect("a fn");
    out[start..end].to_owned()
}

#[test]
fn the_stub_leaves_out_exactly_the_argument_the_check_took_for_the_context() {
    // Each is broken by its `const`, and declares the fn its callers would call.
    for (item, signature) in [
        (
            quote!(
                const async fn f(ctx: Context, n: u8) {}
            ),
            "fn f (_ : u8)",
        ),
        // The check takes a parenthesized `Context` for the context too.
        (
            quote!(
                const async fn f(ctx: (Context), n: u8) {}
            ),
            "fn f (_ : u8)",
        ),
        // A `&Context` is the context, taken wrongly: still left out.
        (
            quote!(
                async fn f(ctx: &Context, n: u8) {}
            ),
            "fn f (_ : u8)",
        ),
        // No context first: every argument stays.
        (
            quote!(
                async fn f(n: u8, ctx: Context) {}
            ),
            "fn f (_ : u8 , _ : Context)",
        ),
        (
            quote!(
                async fn f(ctx: Context<T>) {}
            ),
            "fn f (_ : Context < T >)",
        ),
        // The receiver stays, without a `mut` the stub would not use.
        (
            quote!(
                const async fn f(&self, ctx: Context) {}
            ),
            "fn f (& self)",
        ),
        (
            quote!(
                const async fn f(mut self, ctx: Context) {}
            ),
            "fn f (self)",
        ),
        (
            quote!(
                async fn f(&mut self, ctx: Context, n: u8) {}
            ),
            "fn f (& mut self , _ : u8)",
        ),
    ] {
        assert_eq!(stub_signature(item), signature);
    }
}

#[test]
fn a_broken_fn_becomes_a_stub_next_to_all_its_errors() {
    let out = attribute(
        quote!(nme = "x"),
        quote!(
            pub fn f(ctx: Context, a: impl Send, mut b: u8) -> Result<(), BoxError> {}
        ),
    );
    assert_eq!(compile_errors(&out), 3);
    let out = out.to_string();
    assert!(
        out.starts_with(
            "pub fn f (_ : impl Send , _ : u8) -> :: async_tasks :: __private :: AsyncTask < \
             :: async_tasks :: __private :: Invalid > { \
             let _ : :: core :: option :: Option < Context > = :: core :: option :: Option :: None ; \
             let _ : :: core :: option :: Option < Result < () , BoxError > > = :: core :: option :: Option :: None ; \
             :: async_tasks :: __private :: AsyncTask (:: async_tasks :: __private :: Invalid) }"
        ),
        "{out}"
    );
}

#[test]
fn the_stub_names_only_the_types_a_let_can_name() {
    for item in [
        quote!(
            async fn f() -> impl Future {}
        ),
        quote!(
            async fn f() -> ! {}
        ),
    ] {
        let out = attribute(TokenStream::new(), item).to_string();
        assert!(!out.contains("let _"), "{out}");
    }
}

#[test]
fn argument_errors_keep_the_full_expansion() {
    let out = attribute(
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
