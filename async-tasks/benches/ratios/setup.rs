//! What the figures share: the runtimes, the INFO subscriber, a trivial runner.

use async_tasks::runner::async_trait;
use async_tasks::{BoxError, Context, Runner};
use tokio::runtime::{Builder, Runtime};
use tracing_subscriber::layer::SubscriberExt;

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
