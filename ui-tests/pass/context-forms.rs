//! The first argument is the run's context under any pattern and any path to `Context`.
#![deny(warnings)]

use async_tasks::{Runner, async_task};

#[async_task]
async fn full_path(ctx: async_tasks::Context) {
    let _ = ctx.is_done();
}

#[async_task]
async fn absolute_path(_ctx: ::async_tasks::Context) {}

#[async_task]
async fn wildcard(_: async_tasks::Context) {}

#[async_task]
async fn mutable(mut ctx: async_tasks::Context) {
    ctx = ctx.with_cancel().0;
    let _ = ctx;
}

#[async_task]
#[allow(unused_parens)]
async fn parenthesized(_ctx: (async_tasks::Context)) {}

#[async_task]
async fn with_lint_attribute(#[allow(unused_variables)] ctx: async_tasks::Context) {}

fn main() {
    let names = [
        full_path().name(),
        absolute_path().name(),
        wildcard().name(),
        mutable().name(),
        with_lint_attribute().name(),
        parenthesized().name(),
    ];
    assert_eq!(names.len(), 6);
}
