//! `Self` in the arguments of an associated fn (and a method) means the impl's type.
#![deny(warnings)]

use std::sync::Arc;

use async_tasks::{Context, Runner, async_task};

#[derive(Clone)]
struct Node {
    id: u32,
}

impl Node {
    #[async_task]
    async fn link(_ctx: Context, this: Arc<Self>, next: Option<Self>, all: Vec<Self>) {
        let ids: Vec<u32> = all.iter().map(|node| node.id).collect();
        assert_eq!((this.id, next.map(|node| node.id), ids), (1, Some(2), vec![3]));
    }

    #[async_task]
    async fn compare(&self, _ctx: Context, other: Self) {
        assert!(self.id < other.id);
    }
}

fn main() {
    let link = Node::link(
        Arc::new(Node { id: 1 }),
        Some(Node { id: 2 }),
        vec![Node { id: 3 }],
    );
    assert_eq!(link.name(), Some("link"));
    let _ = Node { id: 1 }.compare(Node { id: 2 });
}
