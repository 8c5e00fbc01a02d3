//! selfheal: a transactional, journaled repair engine for a trading bot's state directory.

#![forbid(unsafe_code)]

pub mod audit;
pub mod checks;
pub mod config;
pub mod engine;
pub mod error;
mod fault;
pub mod findings;
pub mod fsx;
pub mod heal;
pub mod health;
pub mod journal;
pub mod jsondiff;
pub mod jsondoc;
pub mod lock;
pub mod mode;
pub mod paths;
pub mod plan;
pub mod procs;
pub mod prune;
pub mod recovery;
pub mod report;
pub mod rollback;
pub mod salvage;
pub mod stats;
pub mod store;
pub mod textfile;
