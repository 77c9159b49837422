//! A singleton iteration: `Tasks::run_singleton` of a counting runner on `MemoryLeases`,
//! against `Tasks::run_loop` of the very same runner (the bar of the singleton's issue: at
//! most 1.1x), with and without a subscriber, on a current-thread runtime (timed and
//! counted) and a multi-thread one (timed).
//!
//! Both sides run `loops::ITERATIONS` iterations, ended by the runner canceling the
//! context, timed from the call that starts the loop to `wait()` returning: the
//! singleton's side includes taking the lease once and releasing it once. With the lease's
//! default timings (a renew every 2 s), no renew falls inside a side's run (tens of
//! milliseconds): the figure is the cost of an iteration under a lease, which is what a
//! singleton pays most of its life.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_tasks::lease::{Lease, MemoryLeases};
use async_tasks::{Context, Func, Tasks};
use tokio::runtime::Runtime;

use crate::loops::ITERATIONS;
use crate::setup::{current_thread, info_subscriber, multi_thread, with_dispatch};
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted("singleton iteration, no subscriber", 1.1, "ns/iter", || {
            sides(current_thread(), false)
        }),
        Spec::counted(
            "singleton iteration, INFO subscriber",
            1.1,
            "ns/iter",
            || sides(current_thread(), true),
        ),
        // Where the figure above goes: a singleton's iteration spans have a parent (the
        // term's span), a root-level `run_loop`'s have none. Here both are started inside
        // a span, so that the loop's iteration spans have a parent too.
        Spec::counted(
            "(singleton iteration, INFO subscriber, both started in a span)",
            f64::NAN,
            "ns/iter",
            || sides_in_a_span(current_thread()),
        ),
        // Callgrind would serialise the workers: timed only.
        Spec::timed(
            "singleton iteration, no subscriber, multi-thread",
            1.1,
            "ns/iter",
            || sides(multi_thread(), false),
        ),
    ]
}

/// Ours: the singleton; the anchor: the plain loop, on the same runtime and subscriber.
fn sides(rt: Runtime, subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(rt);
    (
        side(Arc::clone(&rt), dispatch.clone(), true, false),
        side(rt, dispatch, false, false),
    )
}

/// [`sides`] with the INFO subscriber, each loop started inside an INFO span.
fn sides_in_a_span(rt: Runtime) -> (Side, Side) {
    let dispatch = Some(info_subscriber());
    let rt = Arc::new(rt);
    (
        side(Arc::clone(&rt), dispatch.clone(), true, true),
        side(rt, dispatch, false, true),
    )
}

fn side(
    rt: Arc<Runtime>,
    dispatch: Option<tracing::Dispatch>,
    singleton: bool,
    in_a_span: bool,
) -> Side {
    let leases = MemoryLeases::new();
    Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let tasks = Tasks::new("bench");
                let (ctx, cancel) = Context::background().with_cancel();
                let count = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&count);
                let runner = Func::new(move |_ctx| {
                    if seen.fetch_add(1, Ordering::Relaxed) + 1 == ITERATIONS {
                        cancel.cancel();
                    }
                    std::future::ready(Ok(()))
                });
                let service = if in_a_span {
                    tracing::info_span!("service")
                } else {
                    tracing::Span::none()
                };
                let clock = Clock::start();
                service.in_scope(|| {
                    if singleton {
                        let lease = Lease::new("bench", leases.clone()).holder("bench");
                        tasks.run_singleton(&ctx, lease, runner);
                    } else {
                        tasks.run_loop(&ctx, runner);
                    }
                });
                tasks.wait().await;
                clock.stop(count.load(Ordering::Relaxed))
            })
        })
    })
}
