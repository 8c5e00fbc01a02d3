//! The engine's side of the journal: reading the transaction files under
//! `logs/backups/journal/` by the reader rules (`journal-format`, its SPEC.md; each file
//! streamed with bounded memory), the index that lets a run read only the newest file
//! (`index`), the facts the startup checks take from the history (`facts`), the run record
//! of runs that wrote no transaction (`runs`), cutting a torn tail after saving a bounded
//! part of it (`torn`), and appending the records of a new transaction. Encoding, framing
//! and the rules themselves live in `journal-format`; this module adds only file handling.

//!
//! The files: `files` (a transaction file as decoded, and what can be wrong with one),
//! `load` (reading the journal), `writer` (appending a transaction's records).

pub mod acks;
mod facts;
mod files;
pub mod history;
mod index;
pub mod known;
mod load;
pub(crate) mod meta;
mod read;
mod runs;
mod size;
mod torn;
pub mod totals;
mod writer;

pub use facts::{decision_key, Facts};
pub use files::{quarantine_advice, Problem, Torn, TxnFile};
pub use read::{entries_up_to_damage, scan, Keys, Scanned};
pub use runs::{RunRecord, RUNS_FILE};
pub use size::{backups_size, own_size};
pub use writer::Writer;

use crate::error::Result;
use crate::paths::RelPath;
use journal_format::{Checkpoint, Digest, Mac};

/// How a journal was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every transaction file, by every reader rule.
    Full,
    /// The index and the newest file only (`txns` holds that file alone).
    Index,
}

/// The journal as read from disk.
#[derive(Debug)]
pub struct Journal {
    /// Every transaction file that could be read and trusted, oldest first (with
    /// [`Source::Index`], only the newest).
    pub txns: Vec<TxnFile>,
    /// The first reason the journal cannot be trusted, if any.
    pub problem: Option<Problem>,
    /// A torn tail on the newest file.
    pub torn: Option<Torn>,
    /// The anchor: the newest committed checkpoint or quarantine record. Transactions up to
    /// its `through_txn` are not in the chain, and any of their files still present are
    /// leftovers.
    pub anchor: Option<Checkpoint>,
    /// Every transaction id named in the journal directory, read or not (full reads only).
    pub ids: Vec<u64>,
    /// What the startup checks read from the history.
    pub facts: Facts,
    /// The runs that wrote no transaction.
    pub runs: RunRecord,
    /// Why the run record cannot be read, when it cannot.
    pub runs_damaged: Option<String>,
    /// How it was read.
    pub source: Source,
    head: (u64, Digest),
    newest: Option<u64>,
    journal_bytes: Option<u64>,
    positions: Vec<String>,
    settle: Option<index::Index>,
    mac: Mac,
}

fn journal_dir() -> RelPath {
    RelPath::new(crate::paths::JOURNAL_DIR).unwrap_or_else(|_| std::process::abort())
}

/// Now as RFC 3339 UTC with milliseconds and `Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
