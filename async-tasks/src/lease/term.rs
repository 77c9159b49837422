//! [`Term`]: one holder's hold on a lease, and its fence.

use std::fmt;
use std::sync::Arc;

tokio::task_local! {
    /// The term under which the singleton run polled on this task runs.
    static CURRENT: Term;
}

/// One term of a lease: who holds it, and its fence, a number strictly greater than that
/// of every earlier term of the same lease.
///
/// A store makes a term when it grants a lease ([`LeaseStore::try_acquire`]), and is handed
/// it back to renew or release it. A singleton's body reads its own with
/// [`Term::current`], to fence what it writes: a database, a queue or a service that keeps
/// the highest fence it has seen can refuse a write made under an older term, after a
/// replica that was paused or cut off lost the lease without knowing it yet.
///
/// Cheap to clone.
///
/// [`LeaseStore::try_acquire`]: super::LeaseStore::try_acquire
///
/// # Examples
///
/// ```
/// use async_tasks::lease::Term;
///
/// let term = Term::new("outbox", "web-1", 7);
/// assert_eq!((term.name(), term.holder(), term.fence()), ("outbox", "web-1", 7));
/// assert!(Term::current().is_none()); // not inside a singleton's run
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Term {
    inner: Arc<Inner>,
}

#[derive(PartialEq, Eq, Hash)]
struct Inner {
    name: String,
    holder: String,
    fence: u64,
}

impl Term {
    /// The term `fence` of the lease `name`, held by `holder`: for store implementors.
    #[must_use]
    pub fn new(name: impl Into<String>, holder: impl Into<String>, fence: u64) -> Term {
        Term {
            inner: Arc::new(Inner {
                name: name.into(),
                holder: holder.into(),
                fence,
            }),
        }
    }

    /// The lease's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Who holds the lease in this term.
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// This term's fence: strictly greater than every earlier term's of the same lease.
    #[must_use]
    pub fn fence(&self) -> u64 {
        self.inner.fence
    }

    /// The term under which the singleton run being polled on this task runs (see
    /// `Tasks::run_singleton`); `None` anywhere else — in
    /// another task, even one that the run started, or outside a task.
    #[must_use]
    pub fn current() -> Option<Term> {
        CURRENT.try_with(Term::clone).ok()
    }

    /// Runs `fut` with this term as [`Term::current`].
    pub(crate) fn scope<F: std::future::Future>(
        self,
        fut: F,
    ) -> tokio::task::futures::TaskLocalFuture<Term, F> {
        CURRENT.scope(self, fut)
    }
}

impl fmt::Debug for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Term")
            .field("name", &self.name())
            .field("holder", &self.holder())
            .field("fence", &self.fence())
            .finish()
    }
}

impl fmt::Display for Term {
    /// `outbox#7 (web-1)`: the lease, the fence and the holder.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{} ({})", self.name(), self.fence(), self.holder())
    }
}
