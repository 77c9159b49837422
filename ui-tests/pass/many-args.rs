//! Many arguments of many types, each handed to the body as given.
#![deny(warnings)]

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Poll, Waker};

use async_tasks::{Context, Runner, async_task};

#[derive(Clone, Debug, PartialEq)]
struct Config {
    retries: u8,
}

#[allow(clippy::too_many_arguments)]
#[async_task]
async fn many(
    _ctx: Context,
    a: u8,
    b: String,
    c: Vec<u32>,
    d: Arc<Config>,
    e: Option<&'static str>,
    f: HashMap<String, u64>,
    g: (u16, char),
    h: fn(u8) -> u8,
    i: Arc<dyn Fn() -> bool + Send + Sync>,
    j: Arc<dyn for<'a> Fn(&'a str) -> &'a str + Send + Sync>,
) -> Result<(), String> {
    let total = u64::from(a) + b.len() as u64 + c.iter().map(|x| u64::from(*x)).sum::<u64>();
    if total != 1 + 2 + (1 + 3)
        || d.retries != 3
        || e != Some("e")
        || f["k"] != 9
        || g != (5, 'x')
        || h(1) != 2
        || !i()
        || j("j") != "j"
    {
        return Err(format!("wrong arguments: {total}"));
    }
    Ok(())
}

fn main() {
    let runner = many(
        1,
        "ab".to_owned(),
        vec![1, 3],
        Arc::new(Config { retries: 3 }),
        Some("e"),
        HashMap::from([("k".to_owned(), 9)]),
        (5, 'x'),
        |x| x + 1,
        Arc::new(|| true),
        Arc::new(|s| s),
    );
    // Twice: each run gets its own clone of the arguments.
    for _ in 0..2 {
        let mut run = runner.run(Context::background());
        let poll = run
            .as_mut()
            .poll(&mut std::task::Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Ready(Ok(()))));
    }
}
