//! What the journal last said about each positions file: a transaction's statement that
//! it is present or gone (its intents, or the `known_files` of its commit summary), folded
//! into the journal's facts. A positions file the journal knew and that is now gone is
//! reported (`detect::gone`) and, in real mode, never re-created empty.

use super::{Journal, TxnFile};
use journal_format::{Body, Node, RunSummary, RUN_COMMANDS};

/// The commit summary key listing the positions files a heal knows exist.
pub const KNOWN_FILES: &str = "known_files";

/// The newest committed transaction showing `path` present, if the newest statement about
/// it says present (kept by the journal's facts as transactions are read).
pub fn journal_knew(journal: &Journal, path: &str) -> Option<u64> {
    journal
        .facts
        .known
        .get(path)
        .and_then(|k| k.present.then_some(k.txn))
}

/// Whether `t` is committed.
pub fn committed(t: &TxnFile) -> bool {
    t.entries
        .iter()
        .any(|e| matches!(e.record.body, Body::Commit(_)))
}

/// What one transaction last says about `path`: present, absent, or nothing.
pub fn statement(t: &TxnFile, path: &str) -> Option<bool> {
    let mut said = None;
    for e in &t.entries {
        match &e.record.body {
            Body::Intent(it) if it.path.as_deref() == Some(path) => {
                said = Some(matches!(it.after, Node::File { .. }));
            }
            Body::Commit(c) if t.command().is_some_and(|c| RUN_COMMANDS.contains(&c)) => {
                // A run summary that cannot be read says nothing; the run is then taken as
                // one that lost data (`acks`), which blocks real mode until acknowledged.
                if let Ok(run) = RunSummary::read(&c.summary) {
                    said = Some(run.known_files.iter().any(|f| f == path));
                }
            }
            Body::Commit(c) => {
                if let Some(list) = c.summary.get(KNOWN_FILES).and_then(|v| v.as_array()) {
                    said = Some(list.iter().any(|v| v.as_str() == Some(path)));
                }
            }
            _ => {}
        }
    }
    said
}
