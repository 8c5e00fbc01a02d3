//! The retention stage, after a committed run: automatic pruning (`retention.auto`) and
//! the size warning for `logs/backups/`. Invariant: neither can undo the run; a failure is
//! a finding in the report, never an error.

use super::session::Session;
use crate::findings::{code, Finding, Level};
use crate::journal::Journal;
use crate::paths::BACKUPS_DIR;
use crate::prune;
use crate::report::Report;
use serde_json::json;

/// After a committed heal: automatic retention (`retention.auto`), then the size warning
/// for `logs/backups/` (`measured`: its size taken before the commit, used unless retention
/// removed something). Neither can undo the heal: a failure is a warning.
pub(crate) fn retention(
    s: &Session,
    journal: &mut Journal,
    report: &mut Report,
    measured: Option<u64>,
) {
    let mut found = Vec::new();
    let mut size = measured;
    if s.layout.config.retention.auto {
        match auto_prune(s, journal) {
            AutoPrune::Removed => size = None,
            AutoPrune::Nothing => {}
            AutoPrune::Failed(f) => found.push(f),
        }
    }
    let size = size.map_or_else(|| crate::journal::backups_size(&s.root), Ok);
    match size {
        Ok(size) if size > s.layout.retention_warn_size => found.push(
            Finding::new(
                code::BACKUPS_SIZE,
                Level::High,
                Some(BACKUPS_DIR),
                format!(
                    "{BACKUPS_DIR} holds {size} bytes, over retention.warn_size ({} bytes): run `{}` or lower retention.keep / retention.older_than",
                    s.layout.retention_warn_size,
                    s.hints.command(&["prune"])
                ),
                "backups over the configured size",
            )
            .with_details(json!({"bytes": size, "warn_size": s.layout.retention_warn_size})),
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot measure {BACKUPS_DIR}: {}", crate::error::error_chain(&e)),
    }
    for f in found {
        report.warnings.push(format!("{} {}", f.level, f.line()));
        report.findings.push(f);
    }
}

/// What automatic retention did.
enum AutoPrune {
    /// It removed files or objects (the backups' size changed).
    Removed,
    /// Nothing to do.
    Nothing,
    /// It failed: the finding that says so.
    Failed(Finding),
}

/// Automatic retention after a heal.
fn auto_prune(s: &Session, journal: &mut Journal) -> AutoPrune {
    let policy = prune::Policy::of(&s.layout);
    let trigger = prune::Trigger::AfterHeal;
    match prune::run(&s.root, journal, &policy, chrono::Utc::now(), trigger) {
        Ok(r) => {
            if let (Some(range), Some(t)) = (&r.pruned, r.transaction) {
                tracing::info!(
                    "retention pruned transactions {}-{} as transaction {t}",
                    range.from_txn,
                    range.through_txn
                );
            }
            if r.files_removed > 0 || r.objects_removed > 0 || r.transaction.is_some() {
                AutoPrune::Removed
            } else {
                AutoPrune::Nothing
            }
        }
        Err(e) => {
            let why = crate::error::error_chain(&e);
            tracing::warn!("automatic retention failed: {why}");
            AutoPrune::Failed(Finding::new(
                code::RETENTION,
                Level::Medium,
                Some(BACKUPS_DIR),
                format!("automatic retention failed: {why}"),
                "automatic retention failed",
            ))
        }
    }
}
