//! What the figures share: the runtimes, the INFO subscriber, a trivial runner.

use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Context, Runner};
use tokio::runtime::{Builder, Runtime};
use tracing_subscriber::layer::SubscriberExt;

/// The runtime a figure runs on: tokio's current-thread one, or a multi-thread one with two
/// workers (what `#[tokio::main]` gives on this 2-core machine).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    /// A runtime of this flavour whose worker threads have `dispatch`, if given, as their
    /// default subscriber (the thread in `block_on` gets it from [`with_dispatch`]).
    pub(crate) fn runtime(self, dispatch: &Option<tracing::Dispatch>) -> Runtime {
        match self {
            Flavor::CurrentThread => current_thread(),
            Flavor::MultiThread => {
                let mut builder = Builder::new_multi_thread();
                builder.worker_threads(2).enable_all();
                if let Some(dispatch) = dispatch.clone() {
                    builder.on_thread_start(move || {
                        // The thread's default for as long as it lives.
                        std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                    });
                }
                builder.build().unwrap()
            }
        }
    }
}

pub(crate) fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

pub(crate) fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A subscriber that records INFO spans, as a production registry would.
pub(crate) fn info_subscriber() -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO),
    )
}

/// Runs `f` with `dispatch` as the default subscriber if given.
pub(crate) fn with_dispatch<T>(dispatch: &Option<tracing::Dispatch>, f: impl FnOnce() -> T) -> T {
    match dispatch {
        Some(d) => tracing::dispatcher::with_default(d, f),
        None => f(),
    }
}

/// A runner that returns at once.
pub(crate) struct Trivial;

#[async_trait]
impl Runner for Trivial {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        Ok(())
    }
}
