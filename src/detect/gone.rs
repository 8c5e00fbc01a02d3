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
use crate::config::FileRole;
use crate::findings::{code, Finding, Level};
use crate::hint::Hints;
use crate::journal::known::journal_knew;
use crate::journal::Journal;
use serde_json::json;

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
