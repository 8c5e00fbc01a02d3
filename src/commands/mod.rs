//! The commands, one file each, as library calls: each opens the root, runs the pipeline
//! (`run`) or its own transaction, and returns its report. Invariant: this module only
//! declares and re-exports; what a command does is in its own file.

pub mod ack;
pub mod check;
pub mod config;
pub mod heal;
pub mod journal;
pub mod prune;
pub mod quarantine;
pub mod recover;
pub mod rekey;
pub mod rollback;
pub mod salvage;
pub mod stats;
pub mod validate;
pub mod watch;

pub use ack::{ack, AckReport};
pub use check::check;
pub use config::config;
pub use heal::heal;
pub use prune::prune;
pub use quarantine::quarantine;
pub use recover::{recover, RecoverReport};
pub use rekey::{rekey, RekeyReport};
pub use rollback::{rollback, RollbackReport};
pub use salvage::{salvage_file, SalvageOutput};
pub use stats::{prometheus, stats, write_prometheus, Stats};
pub use validate::{
    validate_startup_state, validate_systemd_slot, LinkState, SlotValidation, StartupValidation,
};
pub use watch::{watch, CycleReport, WatchOptions};
