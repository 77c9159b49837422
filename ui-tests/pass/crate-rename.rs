//! `crate = path`: the expansion names `async_tasks` only through the given path, here a
//! renamed import and a re-export in a module.
#![deny(warnings)]

use ::async_tasks as at;

pub mod reexport {
    pub use ::async_tasks as inner;
}

#[at::async_task(crate = at)]
async fn through_rename(_ctx: at::Context, n: u8) {
    let _ = n;
}

#[reexport::inner::async_task(crate = crate::reexport::inner, name = "reexported")]
async fn through_module(_ctx: reexport::inner::Context) -> Result<(), at::BoxError> {
    Ok(())
}

fn main() {
    use at::Runner;
    assert_eq!(through_rename(1).name(), Some("through_rename"));
    assert_eq!(through_module().name(), Some("reexported"));
}
