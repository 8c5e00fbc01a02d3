//! Shared support of the integration tests. It owns the three things every test needs
//! exactly once: the binary under test run with a clean environment ([`bin`]), a state root
//! in a temp dir ([`Fixture`]), and one directory-snapshot walker ([`walk`]) with its views
//! (exact, without selfheal's own files, content only). No test starts `selfheal` or walks
//! a tree any other way, so a variable that changes the binary's behaviour (`TRADING_MODE`,
//! `SELFHEAL_*`) reaches a run only when the test sets it.

#![cfg_attr(not(feature = "fault-injection"), allow(dead_code))]

pub mod arena;
mod bin;
pub mod bot;
mod fixture;
pub mod journal;
mod output;
pub mod procs;
mod snapshot;
pub mod states;
pub mod summary;
pub mod watch;

pub use bin::*;
pub use fixture::*;
pub use output::*;
pub use snapshot::*;
