//! `Runner`, `Closer`, `Func`, the forwarding impls, and `run_close`.
//!
//! Covers:
//! - `Func::new` calls its closure once per run, with that run's context, and returns its
//!   result; errors of any `std::error::Error` type (and `anyhow`) convert with `?`;
//! - `run_close` calls the runner's closer (once, with the given context) and returns its
//!   result, or returns `Ok(())` when there is none, calling nothing;
//! - `Box<dyn Runner>`, `Arc<R>` and `&'static R` forward both `run` and `as_closer`, and
//!   `Tasks` accepts all of them; `run_close` accepts an unsized `dyn Runner`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_tasks::context::ContextError;
use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Closer, Context, Func, Runner, Tasks, run_close};
use tokio::time::timeout;

/// Counts its runs and closes; its close fails when `close_fails`.
#[derive(Default)]
struct Counted {
    runs: AtomicUsize,
    closes: AtomicUsize,
    close_fails: bool,
}

#[async_trait]
impl Runner for Counted {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn as_closer(&self) -> Option<&dyn Closer> {
        Some(self)
    }
}

#[async_trait]
impl Closer for Counted {
    async fn close(&self, ctx: Context) -> Result<(), BoxError> {
        self.closes.fetch_add(1, Ordering::SeqCst);
        // The context given to `run_close` is the one the closer gets.
        if let Some(err) = ctx.err() {
            return Err(err.into());
        }
        if self.close_fails {
            return Err("close failed".into());
        }
        Ok(())
    }
}

/// A runner without a closer (the default `as_closer`).
#[derive(Default)]
struct Plain {
    runs: AtomicUsize,
}

#[async_trait]
impl Runner for Plain {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn func_calls_its_closure_once_per_run_with_that_runs_ctx() {
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Func::new({
        let calls = Arc::clone(&calls);
        move |ctx: Context| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match ctx.deadline() {
                    Some(_) => Err("had a deadline".into()),
                    None => Ok(()),
                }
            }
        }
    });
    assert!(runner.run(Context::background()).await.is_ok());
    let (ctx, _c) = Context::background().with_timeout(Duration::from_secs(1));
    let err = runner.run(ctx).await.unwrap_err();
    assert_eq!(err.to_string(), "had a deadline");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_of_any_kind_convert_into_box_error() {
    let io = Func::new(|_ctx| async {
        Err(std::io::Error::other("disk on fire"))?;
        Ok(())
    });
    assert_eq!(
        io.run(Context::background()).await.unwrap_err().to_string(),
        "disk on fire"
    );
    let any = Func::new(|_ctx| async {
        Err(anyhow::anyhow!("anyhow too"))?;
        Ok(())
    });
    assert_eq!(
        any.run(Context::background())
            .await
            .unwrap_err()
            .to_string(),
        "anyhow too"
    );
}

#[tokio::test]
async fn run_close_calls_the_closer_once_and_returns_its_result() {
    let ok = Counted::default();
    assert!(run_close(&Context::background(), &ok).await.is_ok());
    assert_eq!(ok.closes.load(Ordering::SeqCst), 1);
    assert_eq!(ok.runs.load(Ordering::SeqCst), 0, "closing must not run");

    let failing = Counted {
        close_fails: true,
        ..Counted::default()
    };
    let err = run_close(&Context::background(), &failing)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "close failed");
    assert_eq!(failing.closes.load(Ordering::SeqCst), 1);

    // The closer gets the context passed to `run_close`.
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let err = run_close(&ctx, &Counted::default()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<ContextError>(),
        Some(&ContextError::Canceled)
    );
}

#[tokio::test]
async fn run_close_without_a_closer_is_ok_and_calls_nothing() {
    let plain = Plain::default();
    assert!(run_close(&Context::background(), &plain).await.is_ok());
    assert_eq!(plain.runs.load(Ordering::SeqCst), 0);
    assert!(plain.as_closer().is_none());

    let func = Func::new(|_ctx| async { Err("must not run".into()) });
    assert!(run_close(&Context::background(), &func).await.is_ok());
}

#[tokio::test]
async fn boxed_shared_and_static_runners_forward_run_and_as_closer() {
    static STATIC: Counted = Counted {
        runs: AtomicUsize::new(0),
        closes: AtomicUsize::new(0),
        close_fails: true,
    };
    let shared = Arc::new(Counted {
        close_fails: true,
        ..Counted::default()
    });
    let boxed: Box<dyn Runner> = Box::new(Counted {
        close_fails: true,
        ..Counted::default()
    });
    let ctx = Context::background();

    // Through each wrapper's own impl, not by auto-deref to `Counted`.
    <Box<dyn Runner> as Runner>::run(&boxed, ctx.clone())
        .await
        .unwrap();
    <Arc<Counted> as Runner>::run(&shared, ctx.clone())
        .await
        .unwrap();
    <&Counted as Runner>::run(&&STATIC, ctx.clone())
        .await
        .unwrap();
    assert_eq!(shared.runs.load(Ordering::SeqCst), 1);
    assert_eq!(STATIC.runs.load(Ordering::SeqCst), 1);

    // `as_closer` is forwarded: the failing closer is reached through every wrapper.
    for err in [
        run_close(&ctx, &boxed).await,
        run_close(&ctx, &Arc::clone(&shared)).await,
        run_close(&ctx, &&STATIC).await,
        run_close(&ctx, &*boxed).await, // `dyn Runner` itself
    ] {
        assert_eq!(err.unwrap_err().to_string(), "close failed");
    }
    assert_eq!(shared.closes.load(Ordering::SeqCst), 1);
    assert_eq!(STATIC.closes.load(Ordering::SeqCst), 1);

    // A wrapped runner without a closer still has none.
    let plain: Box<dyn Runner> = Box::new(Plain::default());
    assert!(plain.as_closer().is_none());
    assert!(Arc::new(Plain::default()).as_closer().is_none());
}

#[tokio::test]
async fn tasks_accept_boxed_shared_and_static_runners() {
    static STATIC: Plain = Plain {
        runs: AtomicUsize::new(0),
    };
    let shared = Arc::new(Plain::default());
    let boxed = Box::new(Plain::default()) as Box<dyn Runner>;
    let tasks = Tasks::new("kinds");
    let ctx = Context::background();
    tasks.run(&ctx, boxed);
    tasks.run(&ctx, Arc::clone(&shared));
    tasks.run(&ctx, Arc::clone(&shared));
    tasks.run(&ctx, &STATIC);
    timeout(Duration::from_secs(10), tasks.wait())
        .await
        .expect("wait did not return");
    assert_eq!(shared.runs.load(Ordering::SeqCst), 2);
    assert_eq!(STATIC.runs.load(Ordering::SeqCst), 1);
}
