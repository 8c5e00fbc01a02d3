//! selfheal: a transactional, journaled repair engine for a trading bot's state directory.

#![forbid(unsafe_code)]

pub mod salvage;
