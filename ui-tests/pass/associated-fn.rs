//! On an associated fn (no `self`), the body may name `Self`.
#![deny(warnings)]

use std::sync::Arc;

use async_tasks::{Context, Runner, async_task};

struct Service {
    name: &'static str,
}

impl Service {
    fn describe(&self) -> String {
        format!("service {}", self.name)
    }

    #[async_task(name = "service-poll")]
    async fn poll(_ctx: Context, service: Arc<Service>) {
        let _ = Self::describe(&service);
    }
}

fn main() {
    let runner = Service::poll(Arc::new(Service { name: "a" }));
    assert_eq!(runner.name(), Some("service-poll"));
}
