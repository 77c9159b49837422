//! Methods of a generic impl block: the type parameters must be what the runner needs of
//! `Self` (`Clone + Send + Sync + 'static`), and `Self` may be used as in any method.
#![deny(warnings)]

use std::fmt::Debug;
use std::task::{Poll, Waker};

use async_tasks::{Context, Runner, async_task};

#[derive(Clone)]
struct Store<T> {
    items: Vec<T>,
}

impl<T: Clone + Debug + PartialEq + Send + Sync + 'static> Store<T> {
    #[async_task]
    async fn expect_first(&self, _ctx: Context, first: T) -> Result<(), String> {
        match self.items.first() {
            Some(item) if *item == first => Ok(()),
            other => Err(format!("expected {first:?}, found {other:?}")),
        }
    }

    #[async_task]
    async fn merge(self, _ctx: Context, other: Self) {
        let mut all = self.items;
        all.extend(other.items);
        assert!(!all.is_empty());
    }
}

fn main() {
    let store = Store { items: vec![7u8] };
    let runner = store.expect_first(8);
    let mut run = runner.run(Context::background());
    match run
        .as_mut()
        .poll(&mut std::task::Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "expected 8, found Some(7)"),
        _ => panic!("expected the mismatch"),
    }
    let _ = store.clone().merge(store);
}
