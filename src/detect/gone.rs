//! A positions file that selfheal's journal shows existed and that is now gone. The journal
//! knows a positions file from the newest committed transaction that says anything about
//! it: a heal's commit summary lists it under `known_files` (present after the heal, or
//! known and gone), and an intent on the path says what the path became (so a rollback that
//! removed a file it had created makes it unknown again). Walking stops at the first
//! statement, so the cost is a few records, not the whole journal.
//!
//! In real mode such a file is not re-created empty (planning drops that repair) and the
//! run is blocked with DATA_INTEGRITY; `heal --accept-loss`, or paper mode, re-creates it
//! with a HIGH warning.

use super::post::{PostFile, Presence};
use crate::checks::Ctx;
use crate::config::{File, FileRole};
use crate::findings::{code, Finding, Level};
use crate::hint::Hints;
use crate::journal::{Journal, TxnFile};
use crate::mode::Mode;
use journal_format::{Body, Node, RunSummary, RUN_COMMANDS};
use serde_json::json;

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

/// Whether planning must not re-create `spec` empty: a positions file the journal knew, in
/// real mode, without `--accept-loss`.
pub fn must_not_recreate(ctx: &Ctx<'_>, spec: &File) -> bool {
    spec.role == FileRole::Positions
        && ctx.mode.mode == Mode::Real
        && !ctx.accept_loss
        && journal_knew(ctx.journal, spec.path.as_str()).is_some()
}

/// The finding for a positions file that was gone before this run.
pub fn detect(file: &PostFile<'_>, journal: &Journal, hints: &Hints) -> Option<Finding> {
    if file.spec.role != FileRole::Positions || !file.was_absent {
        return None;
    }
    let path = file.spec.path.as_str();
    let txn = journal_knew(journal, path)?;
    let details = json!({"file": path, "known_in_transaction": txn});
    if file.written {
        return Some(
            Finding::new(
                code::DATA_INTEGRITY,
                Level::High,
                Some(path),
                format!(
                    "{path} was gone although the journal shows it existed (transaction {txn}); it is re-created empty (paper mode or --accept-loss): check the positions against the exchange"
                ),
                "gone, re-created",
            )
            .with_details(details),
        );
    }
    (file.presence == Presence::Absent).then(|| {
        Finding::new(
            code::DATA_INTEGRITY,
            Level::Critical,
            Some(path),
            format!(
                "{path} is gone although the journal shows it existed (transaction {txn}); it is not re-created in real mode: restore it from a backup (see `{}`) or start empty with `{}`",
                hints.command(&["journal", "list"]),
                hints.command(&["heal", "--mode", "real", "--accept-loss"])
            ),
            "gone",
        )
        .with_details(details)
    })
}

/// The positions files a heal's commit summary lists as known: present after the heal, or
/// known to the journal and gone.
pub fn known_files(files: &[PostFile<'_>], journal: &Journal) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.spec.role == FileRole::Positions)
        .filter(|f| {
            f.presence == Presence::Present || journal_knew(journal, f.spec.path.as_str()).is_some()
        })
        .map(|f| f.spec.path.as_str().to_string())
        .collect()
}
