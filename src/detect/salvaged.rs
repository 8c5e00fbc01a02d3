//! Lossy salvages applied in paper mode and not yet acknowledged (`acks`): a CRITICAL
//! DATA_INTEGRITY for real mode, a HIGH warning in paper mode, until `selfheal ack <id>`.

use crate::findings::{code, Finding, Level};
use crate::hint::Hints;
use crate::journal::acks;
use crate::journal::Journal;
use crate::mode::Mode;
use serde_json::json;

/// One finding per transaction whose salvage loss awaits acknowledgement.
pub fn detect(journal: &Journal, mode: Mode, hints: &Hints) -> Vec<Finding> {
    acks::pending(journal)
        .into_iter()
        .map(|p| {
            let level = if mode == Mode::Real { Level::Critical } else { Level::High };
            if let Some(why) = &p.unreadable {
                return unreadable(p.txn, why, level, hints);
            }
            let what = if p.ambiguous { ", ambiguous" } else { "" };
            let at_least = if p.records_lost_is_lower_bound { "at least " } else { "" };
            Finding::new(
                code::DATA_INTEGRITY,
                level,
                p.paths.first().map(String::as_str),
                format!(
                    "transaction {} applied a lossy salvage of {} in paper mode (lost {at_least}{} records{what}); real mode is blocked until `{}`",
                    p.txn,
                    p.paths.join(", "),
                    p.records_lost,
                    hints.command(&["ack", &p.txn.to_string()])
                ),
                format!("unacknowledged salvage in transaction {}", p.txn),
            )
            .with_details(json!({"transaction": p.txn, "salvage": {"records_lost": p.records_lost, "records_lost_is_lower_bound": p.records_lost_is_lower_bound, "ambiguous": p.ambiguous, "paths": p.paths}}))
        })
        .collect()
}

/// The finding for a run whose commit summary cannot be read: what it lost is unknown.
fn unreadable(txn: u64, why: &str, level: Level, hints: &Hints) -> Finding {
    Finding::new(
        code::DATA_INTEGRITY,
        level,
        None,
        format!(
            "the commit summary of transaction {txn} cannot be read ({why}): whether that run lost data is unknown, so real mode is blocked until `{}` (after checking its changes with `{}`)",
            hints.command(&["ack", &txn.to_string()]),
            hints.command(&["journal", "show", &txn.to_string()])
        ),
        format!("unreadable commit summary in transaction {txn}"),
    )
    .with_details(json!({"transaction": txn, "unreadable_summary": why}))
}
