//! selfheal: a transactional, journaled repair engine for a trading bot's state directory,
//! and the gate that decides whether the trading engine may start.
//!
//! A bot runs [`heal()`] (or `selfheal heal --json`) before it starts. The run is one
//! pipeline, whose order is stated once, in the crate's `run` module: recover -> inspect ->
//! plan (policy) -> apply -> assess (detect, predict, score) -> commit -> alert ->
//! retention. An unfinished earlier run is rolled back first; what is safe to repair is
//! planned, backed up, applied atomically and journaled as one transaction; the detectors
//! then read the healed state and report what is dangerous (STATE_MISMATCH, PARTIAL_FILL,
//! POSITION_CONFLICT, DATA_INTEGRITY, SLOT_INVALID, ...) without touching it; each finding
//! is appended to the operator alert log; and the [`Report`] says whether the engine may
//! start (`start_allowed`), with a [`Health`] score whose checks and weights it lists.
//! [`check()`] reports the same findings and plan and writes nothing at all. [`watch()`]
//! repeats the checks beside a running bot, repairing a state file only while it holds the
//! bot's own lock for it, and never signalling, resetting a heartbeat or removing a lock.
//! All three also give predictive warnings (disk forecast, backups growth, flapping heals,
//! aging heartbeats).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let opts = selfheal::Options {
//!     root: dir.path().join("bot"),
//!     init: true, // create the root, like `selfheal heal --init`
//!     mode: Some(selfheal::Mode::Real),
//!     ..selfheal::Options::default()
//! };
//! let report = selfheal::heal(&opts)?;
//! if !report.start_allowed {
//!     for line in &report.critical {
//!         eprintln!("[CRITICAL] {line}");
//!     }
//!     return Err("the trading engine must not start".into());
//! }
//! assert_eq!(report.health.score, 100);
//!
//! // Read-only: what a bot may check before or without healing.
//! let state = selfheal::validate_startup_state(&opts)?;
//! assert!(state.valid);
//! let slot = selfheal::validate_systemd_slot(&opts)?;
//! assert!(slot.valid && slot.slot.is_none()); // not a blue/green deployment slot
//!
//! // A second heal right after the first applies nothing.
//! let again = selfheal::heal(&opts)?;
//! assert!(again.actions.is_empty() && again.start_allowed);
//! # Ok(()) }
//! ```
//!
//! # The public API
//!
//! Everything public is listed here; every other module is internal (`ARCHITECTURE.md` in
//! the repository maps them).
//!
//! - **Commands**, one function each, all in [`commands`] (the binary calls nothing else):
//!   [`heal()`], [`check()`], [`watch()`], [`commands::rollback()`], [`commands::recover()`],
//!   [`commands::prune()`], [`commands::ack()`], [`commands::salvage_file`],
//!   [`commands::stats()`] (with [`commands::prometheus`], [`commands::write_prometheus`]),
//!   [`commands::config()`], [`commands::journal`] (`list`, `show`, `verify`),
//!   [`commands::quarantine()`], [`commands::rekey()`], and the read-only checks
//!   [`validate_startup_state`] and [`validate_systemd_slot`]. Each takes [`Options`]
//!   ([`WatchOptions`] besides for `watch`).
//! - **What they return**: [`Report`] (with [`Action`], [`ActionResult`], [`Finding`],
//!   [`Level`], [`Code`], [`Failed`], [`HealKind`], [`Health`], [`Check`], [`Status`],
//!   [`RecoverySummary`], [`RecoveryResult`], [`HealCounts`], [`Mode`], [`ModeSource`]),
//!   [`CycleReport`] ([`CycleOutcome`], [`Skip`]) and [`WatchSummary`] ([`Stop`]),
//!   [`RollbackReport`],
//!   [`RecoverReport`], [`PruneReport`], [`AckReport`], [`SalvageOutput`], [`Stats`],
//!   [`Layout`] ([`Config`]), [`Listing`] ([`Stopped`], [`Problem`]), [`TxnSummary`],
//!   [`TxnDetail`] ([`OpView`], [`ContentDiff`], [`SalvageView`]), [`Verification`]
//!   ([`BadRecord`], [`Unverified`]), [`QuarantineReport`], [`RekeyReport`],
//!   [`StartupValidation`], [`SlotValidation`] ([`LinkState`]).
//! - **Errors**: [`Error`] (one enum; the binary maps it to exit codes in one place),
//!   [`IoOp`], [`Result`].
//! - **Inputs and helpers**: [`Environment`] (what the mode is resolved with), [`Hints`]
//!   (runnable commands in messages), [`NotifyTarget`] (systemd), [`parse_duration`],
//!   [`install_signal_handlers`], [`zstd_level`] (the backup store's compression, for
//!   benchmarks).
//! - **Libraries of their own**: [`salvage`] (the JSON salvage: bytes in, the intact records
//!   out, never a panic; fuzzed), [`pyjson`] (the bot's JSON dialect: `NaN`, `Infinity`),
//!   [`jsondiff`] (the record diff `journal show` prints), [`text`] (terminal-safe text).
//!
//! # Guarantees
//!
//! - **Nothing lost**: before a file is changed or removed its exact bytes, mode, owner,
//!   mtime and extended attributes (ACLs included) are in the backup store and named in the
//!   journal; any heal can be undone exactly (`selfheal rollback <id>`).
//! - **Atomic**: every file is replaced by write temp -> fsync -> rename -> fsync directory,
//!   keeping its attributes; after a crash, the next run's recovery leaves every file fully
//!   before or fully after, or keeps the version the bot wrote under its lock since.
//! - **Contained**: writes happen only inside the root (and symlink targets the config
//!   trusts), and to the regular file outside it that `stats --prometheus` names; other
//!   symlinks are not followed.
//! - **Dangerous state is never repaired**: the detectors only read. In real mode a positions
//!   file is never replaced by an empty one, not even when it is gone.
//! - **One at a time**: an exclusive lock serialises writers; a waiter gives up after a
//!   bounded time.
//! - **Audit**: the journal is append-only and hash-chained (optionally keyed).
//! - **Bad input never crashes it**: any bytes in any file give a finding, never a panic.
//! - **Idempotent**: a second heal right after the first applies no operation.
//! - **Alerts do not flood**: the same finding is appended to the alert log at most once per
//!   `alerts.dedupe_window` (default 1 h); repeats are counted.
//!
//! # Non-goals
//!
//! - It does not talk to the exchange: it cannot know whether a position is really open.
//!   STATE_MISMATCH and PARTIAL_FILL say the files disagree with themselves; reconciling them
//!   with the venue is the operator's (or the bot's) job.
//! - It does not repair dangerous issues, guess between conflicting records, or merge
//!   versions of a file.
//! - It is not a supervisor: it decides whether to start, it does not keep the bot running.
//! - Linux only (it relies on `openat2`, `flock` and pidfds).

#![forbid(unsafe_code)]

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod botlock;
pub(crate) mod checks;
pub mod commands;
pub(crate) mod config;
pub(crate) mod content;
pub(crate) mod detect;
pub(crate) mod dotenv;
pub(crate) mod error;
mod fault;
pub(crate) mod findings;
pub(crate) mod fsx;
pub(crate) mod health;
pub(crate) mod hint;
pub(crate) mod holders;
pub(crate) mod journal;
pub mod jsondiff;
pub(crate) mod jsondoc;
pub(crate) mod keyfile;
pub(crate) mod lock;
pub(crate) mod mode;
pub(crate) mod paths;
pub(crate) mod plan;
pub(crate) mod predict;
pub(crate) mod procs;
pub(crate) mod prune;
pub mod pyjson;
pub(crate) mod quarantine;
pub(crate) mod recovery;
pub(crate) mod report;
pub(crate) mod rollback;
pub(crate) mod run;
pub mod salvage;
pub(crate) mod space;
pub(crate) mod stats;
pub(crate) mod store;
pub mod text;
pub(crate) mod textfile;
pub(crate) mod txn;

pub use audit::{
    BadRecord, ContentDiff, OpView, SalvageView, TxnDetail, TxnSummary, Unverified, Verification,
};
pub use commands::journal::{Listing, Stopped};
pub use commands::watch::{
    self, watch, CycleOutcome, CycleReport, NotifyTarget, Skip, Stop, WatchOptions, WatchSummary,
};
pub use commands::{
    check, heal, validate_startup_state, validate_systemd_slot, AckReport, LinkState,
    RecoverReport, RekeyReport, RollbackReport, SalvageOutput, SlotValidation, StartupValidation,
    Stats,
};
pub use config::{parse_duration, Config, Layout};
pub use error::{Error, IoOp, Result};
pub use findings::{Code, Failed, Finding, Level};
pub use health::{Check, Health, Status};
pub use hint::Hints;
pub use journal::Problem;
pub use lock::install_signal_handlers;
pub use mode::{Environment, Mode, ModeSource};
pub use plan::HealKind;
pub use prune::PruneReport;
pub use quarantine::QuarantineReport;
pub use report::{Action, ActionResult, HealCounts, RecoveryResult, RecoverySummary, Report};
pub use run::Options;
pub use store::zstd_level;

/// The fuzz targets' engine check (the `fuzzing` and `fault-injection` features: built
/// for `fuzz/` and the replay tests only).
#[cfg(all(feature = "fuzzing", feature = "fault-injection"))]
#[doc(hidden)]
pub use txn::fuzzing;
