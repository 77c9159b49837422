//! Arguments keep their patterns: `mut`, destructuring and `_` work as in any fn, and the
//! caller passes plain values.
#![deny(warnings)]

use std::task::{Poll, Waker};

use async_tasks::{Context, Runner, async_task};

#[derive(Clone)]
struct Point {
    x: i32,
    y: i32,
}

#[async_task]
async fn patterns(
    _ctx: Context,
    mut count: u32,
    (low, high): (u32, u32),
    Point { x, y }: Point,
    _: String,
    #[allow(unused_variables)] unused: u8,
) -> Result<(), String> {
    count += 1;
    if (count, low, high, x, y) != (1, 2, 3, 4, 5) {
        return Err("wrong arguments".to_owned());
    }
    Ok(())
}

fn main() {
    let runner = patterns(0, (2, 3), Point { x: 4, y: 5 }, String::new(), 0);
    for _ in 0..2 {
        let mut run = runner.run(Context::background());
        let poll = run
            .as_mut()
            .poll(&mut std::task::Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Ready(Ok(()))));
    }
}
