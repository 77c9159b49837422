//! The README, whose Rust samples run as this crate's doctests (`cargo test -p
//! async-tasks-readme`), with exactly the dependencies the README's "Add it" section lists.
#![doc = include_str!("../../../README.md")]
