//! [`LeaseLost`] and [`LossReason`]: why a singleton's runs were canceled.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::term::Term;
use crate::runner::BoxError;

/// The error a singleton's run context is canceled with when its replica loses the lease:
/// which lease, under which term (so which fence), and why.
///
/// A run reads it from its context's [`cause`](crate::Context::cause), by
/// downcasting, to say why it stopped; it returns its context's error
/// ([`ContextError::Canceled`](crate::context::ContextError::Canceled), what
/// `ctx.err()` says), which is a cancellation, not this cause (which would be reported as a
/// failure: a routine handover would log an ERROR). Its
/// `Display` reads alone: `lease "outbox" lost (fence 7): no renew succeeded within 10s`.
/// When the store failed, [`source`](Error::source) is the store's last error, which
/// `Display` also ends with (a printer that walks the chain repeats it).
///
/// # Examples
///
/// ```
/// use async_tasks::Context;
/// use async_tasks::lease::{LeaseLost, LossReason};
///
/// /// What a run that stopped early logs: whether it was because the lease was lost.
/// fn why_stopped(ctx: &Context) -> String {
///     let Some(cause) = ctx.cause() else {
///         return "still running".to_owned();
///     };
///     match cause.downcast_ref::<LeaseLost>() {
///         Some(lost) if matches!(lost.reason(), LossReason::NotHeld) => {
///             format!("fence {} was taken over", lost.fence())
///         }
///         Some(lost) => lost.to_string(),
///         None => cause.to_string(),
///     }
/// }
///
/// assert_eq!(why_stopped(&Context::background()), "still running");
/// let (ctx, cancel) = Context::background().with_cancel();
/// cancel.cancel();
/// assert_eq!(why_stopped(&ctx), "context canceled");
/// ```
#[derive(Debug, Clone)]
pub struct LeaseLost {
    term: Term,
    reason: LossReason,
}

/// Why a [`LeaseLost`]: the store said the term lost the lease, or no renew succeeded in
/// time (the renews hung, or failed).
///
/// More reasons may come: match with a `_` arm.
///
/// # Examples
///
/// ```
/// use async_tasks::lease::{LeaseLost, LossReason};
///
/// /// Whether a replica that lost `lost` should page someone: a takeover is routine, a
/// /// store that cannot be reached is not.
/// fn worth_a_page(lost: &LeaseLost) -> bool {
///     match lost.reason() {
///         LossReason::NotHeld => false,
///         LossReason::RenewTimedOut { .. } | LossReason::StoreFailed { .. } => true,
///         _ => true,
///     }
/// }
/// # let _ = worth_a_page;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LossReason {
    /// The store said this term no longer holds the lease: a renew returned `false`,
    /// because another replica took it over, it was released, or it expired before the
    /// renew reached the store.
    NotHeld,
    /// No renew succeeded within the lease's `renew_deadline`, and the last one did not
    /// fail: the renews hung, or went unanswered.
    RenewTimedOut {
        /// The lease's `renew_deadline`.
        renew_deadline: Duration,
    },
    /// No renew succeeded within the lease's `renew_deadline`, and the last one failed with
    /// `error` (also the [`LeaseLost`]'s [`source`](Error::source)).
    StoreFailed {
        /// The lease's `renew_deadline`.
        renew_deadline: Duration,
        /// The store's error, from the last renew.
        error: Arc<dyn Error + Send + Sync + 'static>,
    },
}

impl LossReason {
    /// The `reason` label of the lease metrics: `not_held`, `renew_timed_out`,
    /// `store_failed`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            LossReason::NotHeld => "not_held",
            LossReason::RenewTimedOut { .. } => "renew_timed_out",
            LossReason::StoreFailed { .. } => "store_failed",
        }
    }
}

impl LeaseLost {
    /// `term` lost its lease: the store said so.
    pub(crate) fn not_held(term: Term) -> LeaseLost {
        LeaseLost {
            term,
            reason: LossReason::NotHeld,
        }
    }

    /// `term` gave its lease up: no renew succeeded within `renew_deadline`, and the last
    /// one did not fail (it hung, or is still in flight).
    pub(crate) fn renew_timed_out(term: Term, renew_deadline: Duration) -> LeaseLost {
        LeaseLost {
            term,
            reason: LossReason::RenewTimedOut { renew_deadline },
        }
    }

    /// `term` gave its lease up: no renew succeeded within `renew_deadline`, and the last
    /// one failed with `error`.
    pub(crate) fn store_failed(term: Term, renew_deadline: Duration, error: BoxError) -> LeaseLost {
        LeaseLost {
            term,
            reason: LossReason::StoreFailed {
                renew_deadline,
                error: Arc::from(error),
            },
        }
    }

    /// The term that lost the lease: its name, holder and fence.
    ///
    /// See [`LeaseLost`] for an example.
    #[must_use]
    pub fn term(&self) -> &Term {
        &self.term
    }

    /// The lease's name.
    ///
    /// See [`LeaseLost`] for an example.
    #[must_use]
    pub fn name(&self) -> &str {
        self.term.name()
    }

    /// The fence of the term that lost the lease: writes fenced with it, or any lower one,
    /// should be refused from now on.
    ///
    /// See [`LeaseLost`] for an example.
    #[must_use]
    pub fn fence(&self) -> u64 {
        self.term.fence()
    }

    /// Why the lease was lost.
    ///
    /// See [`LeaseLost`] for an example.
    #[must_use]
    pub fn reason(&self) -> &LossReason {
        &self.reason
    }
}

impl fmt::Display for LeaseLost {
    /// `lease "outbox" lost (fence 7): ` and the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lease {:?} lost (fence {}): {}",
            self.name(),
            self.fence(),
            self.reason
        )
    }
}

impl Error for LeaseLost {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.reason {
            LossReason::StoreFailed { error, .. } => Some(&**error),
            LossReason::NotHeld | LossReason::RenewTimedOut { .. } => None,
        }
    }
}

impl fmt::Display for LossReason {
    /// What happened, in a few words: `another holder has it or it expired`,
    /// `no renew succeeded within 10s`, `the store failed: connection refused`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::NotHeld => {
                f.write_str("the store says another holder has it or it expired")
            }
            LossReason::RenewTimedOut { renew_deadline } => {
                write!(f, "no renew succeeded within {renew_deadline:?}")
            }
            LossReason::StoreFailed { error, .. } => write!(f, "the store failed: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term() -> Term {
        Term::new("outbox", "web-1", 7)
    }

    #[test]
    fn display_reads_alone_for_each_reason() {
        assert_eq!(
            LeaseLost::not_held(term()).to_string(),
            "lease \"outbox\" lost (fence 7): the store says another holder has it or it expired"
        );
        assert_eq!(
            LeaseLost::renew_timed_out(term(), Duration::from_secs(10)).to_string(),
            "lease \"outbox\" lost (fence 7): no renew succeeded within 10s"
        );
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(
            LeaseLost::store_failed(term(), Duration::from_secs(10), refused.into()).to_string(),
            "lease \"outbox\" lost (fence 7): the store failed: connection refused"
        );
    }

    #[test]
    fn the_store_error_is_the_source_and_survives_clones() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let lost = LeaseLost::store_failed(term(), Duration::from_secs(10), refused.into());
        let lost = lost.clone();
        let source = lost.source().expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        match lost.reason() {
            LossReason::StoreFailed { renew_deadline, .. } => {
                assert_eq!(*renew_deadline, Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        assert!(LeaseLost::not_held(term()).source().is_none());
        assert!(
            LeaseLost::renew_timed_out(term(), Duration::from_secs(1))
                .source()
                .is_none()
        );
    }

    #[test]
    fn accessors_name_the_lease_and_the_term() {
        let lost = LeaseLost::not_held(term());
        assert_eq!((lost.name(), lost.fence()), ("outbox", 7));
        assert_eq!(lost.term(), &term());
        assert!(matches!(lost.reason(), LossReason::NotHeld));
    }

    #[test]
    fn it_is_a_cause_a_context_can_carry() {
        fn assert_cause<E: Error + Send + Sync + Clone + fmt::Debug + 'static>() {}
        assert_cause::<LeaseLost>();
        let cause: crate::context::Cause = Arc::new(LeaseLost::not_held(term()));
        assert_eq!(
            cause.downcast_ref::<LeaseLost>().map(LeaseLost::fence),
            Some(7)
        );
    }
}
