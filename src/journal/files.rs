//! One transaction file as decoded (its good records and how it ends), and the problems
//! that make a journal untrustworthy, each naming its file and the way out.

use crate::error::Error;
use crate::fsx::Root;
use crate::paths::RelPath;
use journal_format::{self as jf, Body, Entry, Record, Tail, TxnState};

/// One transaction file, decoded.
#[derive(Debug, Clone)]
pub struct TxnFile {
    /// Transaction id.
    pub txn: u64,
    /// Its path.
    pub path: RelPath,
    /// Its good records.
    pub entries: Vec<Entry>,
    /// How it ends.
    pub tail: Tail,
    /// Whether its tags were verified (false: tagged with an earlier journal key that was
    /// not given, read without its tags; only before a key rotation).
    pub verified: bool,
}

impl TxnFile {
    /// The records without positions.
    pub fn records(&self) -> Vec<Record> {
        self.entries.iter().map(|e| e.record.clone()).collect()
    }

    /// Committed, aborted or unfinished (grammar already checked at load): the last
    /// record decides.
    pub fn state(&self) -> TxnState {
        match self.entries.last().map(|e| &e.record.body) {
            Some(Body::Commit(_)) => TxnState::Committed,
            Some(Body::Abort(_)) => TxnState::Aborted,
            _ => TxnState::Unfinished,
        }
    }

    /// The `begin` record's command, if begun.
    pub fn command(&self) -> Option<&str> {
        self.entries.iter().find_map(|e| match &e.record.body {
            Body::Begin(b) => Some(b.command.as_str()),
            _ => None,
        })
    }
}

/// Why the journal cannot be trusted or extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Damage that is not a torn tail, a broken chain or grammar: JOURNAL_INTEGRITY.
    Corrupt {
        /// The file.
        file: RelPath,
        /// The 1-based line of the first bad record, when one record is at fault.
        line: Option<u64>,
        /// Its `seq`, when known (for a line failing its tag, the seq it claims).
        seq: Option<u64>,
        /// What failed.
        why: String,
    },
    /// A format version this binary does not know: nothing may be appended.
    Version {
        /// The file.
        file: RelPath,
        /// The version found.
        version: u64,
    },
}

impl Problem {
    /// The error a writing command returns for this problem.
    pub fn to_error(&self, root: &Root) -> Error {
        match self {
            Problem::Corrupt { file, .. } => Error::JournalCorrupt {
                file: root.display(file),
                why: format!("{}; {}", self.what(), quarantine_advice(root)),
            },
            Problem::Version { file, version } => Error::JournalVersion {
                file: root.display(file),
                version: *version,
                known: jf::VERSION,
            },
        }
    }

    /// What failed, naming the record (without the file).
    fn what(&self) -> String {
        match self {
            Problem::Corrupt { line, seq, why, .. } => match (line, seq) {
                (Some(l), Some(s)) => format!("line {l} (seq {s}): {why}"),
                (Some(l), None) => format!("line {l}: {why}"),
                (None, Some(s)) => format!("seq {s}: {why}"),
                (None, None) => why.clone(),
            },
            Problem::Version { version, .. } => format!(
                "format version {version} is unknown to this selfheal (knows {})",
                jf::VERSION
            ),
        }
    }

    /// One line for reports: the file, then the record and what failed.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.file(), self.what())
    }

    /// [`Problem::describe`] and, for damage, how to get out of it.
    pub fn describe_with_advice(&self, root: &Root) -> String {
        match self {
            Problem::Corrupt { .. } => format!("{}; {}", self.describe(), quarantine_advice(root)),
            Problem::Version { .. } => self.describe(),
        }
    }

    /// The file at fault.
    pub fn file(&self) -> &RelPath {
        match self {
            Problem::Corrupt { file, .. } | Problem::Version { file, .. } => file,
        }
    }

    /// Where the problem is, as `file:line` when one line is at fault.
    pub fn location(&self) -> String {
        match self {
            Problem::Corrupt {
                file,
                line: Some(l),
                ..
            } => format!("{file}:line {l}"),
            _ => self.file().to_string(),
        }
    }
}

/// The command that moves a damaged journal aside, for messages.
pub fn quarantine_advice(root: &Root) -> String {
    let abs = root
        .canonical_path()
        .unwrap_or_else(|_| root.path().to_path_buf());
    format!(
        "run `selfheal --root {} journal quarantine` to move the damaged journal aside and start a new one",
        abs.display()
    )
}

/// A torn tail found at the end of the newest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The file.
    pub file: RelPath,
    /// Where the torn bytes start.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
    /// Where they were saved, once saved.
    pub saved_to: Option<RelPath>,
}
