//! Visibility is kept: a `pub(crate)` task in a module is callable from the crate root, and a
//! `pub` one from a sibling module.
#![deny(warnings)]

mod jobs {
    use async_tasks::{Context, async_task};

    #[async_task(name = "cleanup")]
    pub(crate) async fn cleanup(_ctx: Context, days: u32) {
        let _ = days;
    }

    #[async_task]
    pub async fn report(_ctx: Context) {}
}

mod wiring {
    use async_tasks::Runner;

    pub(crate) fn names() -> [Option<&'static str>; 2] {
        [
            super::jobs::cleanup(30).name(),
            super::jobs::report().name(),
        ]
    }
}

fn main() {
    assert_eq!(wiring::names(), [Some("cleanup"), Some("report")]);
}
