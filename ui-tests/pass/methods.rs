//! Methods: `&self`, `self`, `mut self` and `self: Arc<Self>`. The runner keeps its own copy
//! of `self` (a clone, or the `Arc`), each run gets a copy of that, and the body uses
//! `self` as in any method, format strings and `fields(...)` included. The runner of a
//! `&self` method is `'static`: it outlives the value it was made from.
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use async_tasks::{BoxError, Context, Runner, async_task};

#[derive(Clone, Debug, Default)]
struct Counter {
    name: &'static str,
    total: Arc<AtomicUsize>,
    local: usize,
}

impl Counter {
    #[async_task(name = "counter-add", fields(counter = self.name, ?me = self.local))]
    async fn add(&self, _ctx: Context, n: usize) -> Result<(), BoxError> {
        if n == 0 {
            return Err(format!("{self:?}: nothing to add").into());
        }
        self.total.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }

    /// Each run changes its own copy: runs do not see each other's changes.
    #[async_task]
    async fn bump(mut self, _ctx: Context) {
        self.local += 1;
        self.total.fetch_add(self.local, Ordering::SeqCst);
    }

    #[async_task]
    async fn through_arc(self: Arc<Self>, _ctx: Context, other: Arc<Self>) {
        self.total.fetch_add(Arc::strong_count(&other), Ordering::SeqCst);
    }

    #[async_task]
    async fn explicit(self: &Self, _ctx: Context) {
        let read = |counter: &Counter| counter.total.load(Ordering::SeqCst);
        let _ = read(self);
    }

    #[async_task]
    async fn unused_self(&self, _ctx: Context) {}

    /// `self` in a `use` tree and in a nested impl's method is not the receiver.
    #[async_task]
    async fn nested(&self, _ctx: Context) -> Result<(), std::fmt::Error> {
        use std::fmt::{self, Write};
        struct Inner(usize);
        impl Inner {
            fn get(&self) -> usize {
                self.0
            }
        }
        let mut text = String::new();
        let written: fmt::Result = write!(text, "{}", Inner(self.local).get());
        written
    }
}

fn run_once(runner: &impl Runner) -> Poll<Result<(), BoxError>> {
    let mut run = runner.run(Context::background());
    run.as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()))
}

fn main() {
    let total = Arc::new(AtomicUsize::new(0));
    let counter = Counter {
        name: "c",
        total: Arc::clone(&total),
        local: 0,
    };

    // Made from a value that is gone before it runs.
    let add = {
        let temporary = counter.clone();
        temporary.add(2)
    };
    assert!(matches!(run_once(&add), Poll::Ready(Ok(()))));
    assert!(matches!(run_once(&add.clone()), Poll::Ready(Ok(()))));
    assert_eq!(total.load(Ordering::SeqCst), 4);
    match run_once(&counter.add(0)) {
        Poll::Ready(Err(err)) => assert!(err.to_string().ends_with("nothing to add")),
        _ => panic!("expected the error"),
    }

    let bump = counter.clone().bump();
    for _ in 0..2 {
        assert!(matches!(run_once(&bump), Poll::Ready(Ok(()))));
    }
    assert_eq!(total.load(Ordering::SeqCst), 4 + 1 + 1, "each run starts from `local: 0`");

    let shared = Arc::new(counter.clone());
    let through_arc = Arc::clone(&shared).through_arc(Arc::clone(&shared));
    assert!(matches!(run_once(&through_arc), Poll::Ready(Ok(()))));
    assert!(matches!(run_once(&counter.explicit()), Poll::Ready(Ok(()))));
    assert_eq!(counter.unused_self().name(), Some("unused_self"));
    assert!(matches!(run_once(&counter.nested()), Poll::Ready(Ok(()))));
}
