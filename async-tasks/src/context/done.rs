//! The futures of [`Context::done`], [`Context::closing`] and their owning forms
//! ([`Context::done_owned`], [`Context::closing_owned`]), named so that a struct can hold
//! one and poll it in a hand-written `select!` loop, or hand it on as a `'static` signal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::Context;
use super::node::Wait;

pin_project_lite::pin_project! {
    /// The future returned by [`Context::done`]: resolves once the context is done.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes. Dropping it loses nothing.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Done<'a> {
        // `None` for the background context, which is never done.
        #[pin]
        wait: Option<Wait<'a>>,
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Context::closing`]: resolves once the context is closing
    /// (or done).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes. Dropping it loses nothing.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Closing<'a> {
        // `None` for the background context, which never closes.
        #[pin]
        wait: Option<Wait<'a>>,
    }
}

impl<'a> Done<'a> {
    pub(super) fn new(ctx: &'a Context) -> Self {
        Done {
            wait: ctx.node.as_ref().map(|node| node.wait(false)),
        }
    }
}

impl<'a> Closing<'a> {
    pub(super) fn new(ctx: &'a Context) -> Self {
        Closing {
            wait: ctx.node.as_ref().map(|node| node.wait(true)),
        }
    }
}

/// Polls a wait, or stays pending forever for the background context.
fn poll_wait(wait: Pin<&mut Option<Wait<'_>>>, cx: &mut TaskContext<'_>) -> Poll<()> {
    match wait.as_pin_mut() {
        Some(wait) => wait.poll(cx),
        None => Poll::Pending,
    }
}

impl Future for Done<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        poll_wait(self.project().wait, cx)
    }
}

impl Future for Closing<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        poll_wait(self.project().wait, cx)
    }
}

impl fmt::Debug for Done<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done").finish_non_exhaustive()
    }
}

impl fmt::Debug for Closing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closing").finish_non_exhaustive()
    }
}

/// The future returned by [`Context::done_owned`]: [`Done`] that owns its context, so that
/// a struct can keep it beside nothing else (it is [`Unpin`]).
///
/// It holds its wait in one allocation, made when it is created.
///
/// # Cancel safety
///
/// Cancel safe: it only observes. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct DoneOwned {
    owned: Owned,
}

/// The future returned by [`Context::closing_owned`]: [`Closing`] that owns its context,
/// for a `'static` signal such as a server's graceful shutdown (axum's
/// `with_graceful_shutdown(ctx.closing_owned())`).
///
/// It holds its wait in one allocation, made when it is created.
///
/// # Cancel safety
///
/// Cancel safe: it only observes. Dropping it loses nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ClosingOwned {
    owned: Owned,
}

/// A context and a wait on it, owned together.
struct Owned {
    ctx: Context,
    wait: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
}

impl Owned {
    fn new(ctx: Context, closing: bool) -> Owned {
        let wait = {
            let ctx = ctx.clone();
            Box::pin(async move {
                if closing {
                    ctx.closing().await;
                } else {
                    ctx.done().await;
                }
            })
        };
        Owned { ctx, wait }
    }
}

impl DoneOwned {
    pub(super) fn new(ctx: Context) -> Self {
        DoneOwned {
            owned: Owned::new(ctx, false),
        }
    }

    /// The context this future waits on.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.owned.ctx
    }
}

impl ClosingOwned {
    pub(super) fn new(ctx: Context) -> Self {
        ClosingOwned {
            owned: Owned::new(ctx, true),
        }
    }

    /// The context this future waits on.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.owned.ctx
    }
}

impl Future for DoneOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.owned.wait.as_mut().poll(cx)
    }
}

impl Future for ClosingOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.owned.wait.as_mut().poll(cx)
    }
}

impl fmt::Debug for DoneOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoneOwned")
            .field("ctx", &self.owned.ctx)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClosingOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosingOwned")
            .field("ctx", &self.owned.ctx)
            .finish_non_exhaustive()
    }
}
