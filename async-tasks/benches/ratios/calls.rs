//! `#[async_task]` runs: a generated runner called directly, against a hand-written
//! `Runner` doing the same span work.

use std::hint::black_box;
use std::sync::Arc;

use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Context, Runner};
use tracing::Instrument;

use crate::setup::{current_thread, info_subscriber, with_dispatch};
use crate::{Clock, Side, Spec};

pub(crate) fn figures() -> Vec<Spec> {
    vec![
        Spec::counted("#[async_task] run, no subscriber", 1.1, "ns/call", || {
            call_figures(false)
        }),
        Spec::counted("#[async_task] run, INFO subscriber", 1.1, "ns/call", || {
            call_figures(true)
        }),
    ]
}

const CALLS: u64 = 600_000;

/// The generated runner of the `#[async_task]` figure.
#[async_tasks::async_task(name = "bench-call")]
async fn generated_call(_ctx: Context, n: u64) -> Result<(), BoxError> {
    black_box(n);
    Ok(())
}

/// The anchor of the `#[async_task]` figure: a hand-written runner doing the same span work
/// (a span per call with the four failure fields, entered while the body is polled, a panic
/// caught to be recorded and resumed, the error recorded on failure).
struct HandWritten {
    n: u64,
}

#[async_trait]
impl Runner for HandWritten {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        use futures_util::FutureExt;
        let n = self.n;
        let span = tracing::info_span!(
            "bench-call",
            error = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            panic = tracing::field::Empty,
        );
        let body = async move {
            black_box(n);
            Ok::<(), BoxError>(())
        };
        let mut body = std::pin::pin!(body.instrument(span));
        match std::panic::AssertUnwindSafe(body.as_mut())
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                body.span().record("error", err.to_string().as_str());
                Err(err)
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

fn call_figures(subscriber: bool) -> (Side, Side) {
    let dispatch = subscriber.then(info_subscriber);
    let rt = Arc::new(current_thread());
    let ours: Side = {
        let (rt, dispatch) = (Arc::clone(&rt), dispatch.clone());
        Box::new(move || {
            with_dispatch(&dispatch, || {
                rt.block_on(async {
                    let runner = generated_call(7);
                    let ctx = Context::background();
                    let clock = Clock::start();
                    for _ in 0..CALLS {
                        black_box(&runner).run(ctx.clone()).await.unwrap();
                    }
                    clock.stop(CALLS)
                })
            })
        })
    };
    let anchor: Side = Box::new(move || {
        with_dispatch(&dispatch, || {
            rt.block_on(async {
                let runner = HandWritten { n: 7 };
                let ctx = Context::background();
                let clock = Clock::start();
                for _ in 0..CALLS {
                    black_box(&runner).run(ctx.clone()).await.unwrap();
                }
                clock.stop(CALLS)
            })
        })
    });
    (ours, anchor)
}
