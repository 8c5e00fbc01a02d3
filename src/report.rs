//! The report of `heal` and `check`: a superset of the reference bot's `self_heal()` result
//! (`success`, `healed`, `failed`, `critical`, `stats`) plus `transaction`, `mode`,
//! `mode_source`, `health`, `start_allowed` and structured `actions`. It is what `--json` prints and what
//! the library returns; the human rendering lives in the CLI.

use crate::engine::OpResult;
use crate::findings::{Failed, Finding};
use crate::health::Health;
use crate::mode::{Mode, ModeSource};
use crate::plan::Op;
use crate::recovery::RecoveryOutcome;
use journal_format::{Node, OpKind};
use serde::Serialize;

/// The reference bot's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Managed files created.
    pub files_created: u64,
    /// Files repaired (empty, missing keys, salvaged, permissions).
    pub files_repaired: u64,
    /// Directories created.
    pub directories_created: u64,
    /// Heartbeats reset.
    pub heartbeats_reset: u64,
    /// Stale locks removed.
    pub locks_cleared: u64,
    /// Orphan processes terminated.
    pub orphans_killed: u64,
}

impl Stats {
    /// Counts one applied heal of kind `heal`.
    pub fn count(&mut self, heal: &str) {
        match heal {
            "missing_directory" | "bootstrap_directory" => self.directories_created += 1,
            "missing_file" => self.files_created += 1,
            "stale_heartbeat" => self.heartbeats_reset += 1,
            "stale_lock" => self.locks_cleared += 1,
            "orphan_process" => self.orphans_killed += 1,
            "rollback" => {}
            _ => self.files_repaired += 1,
        }
    }
}

/// One operation as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The heal kind.
    pub heal: String,
    /// The filesystem effect.
    pub kind: OpKind,
    /// The path, if any.
    pub path: Option<String>,
    /// The human line.
    pub message: String,
    /// `applied`, `skipped` or `planned` (check / dry run).
    pub result: &'static str,
    /// Why it was skipped, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    /// Why it was planned.
    pub reason: String,
    /// SHA-256 of the content before, when a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_sha256: Option<String>,
    /// SHA-256 of the content after, when a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_sha256: Option<String>,
}

impl Action {
    /// Describes `op` with its result (`None`: only planned).
    pub fn of(op: &Op, result: Option<&OpResult>) -> Action {
        let sha = |n: &Node| match n {
            Node::File { sha256, .. } => Some(sha256.to_hex()),
            _ => None,
        };
        let (result, skipped_because) = match result {
            None => ("planned", None),
            Some(OpResult::Applied) => ("applied", None),
            Some(OpResult::Skipped(why)) => ("skipped", Some(why.clone())),
        };
        Action {
            heal: op.heal.to_string(),
            kind: op.kind(),
            path: op.path.as_ref().map(|p| p.to_string()),
            message: op.message.clone(),
            result,
            skipped_because,
            reason: op.reason.clone(),
            before_sha256: op.before.node().and_then(sha),
            after_sha256: sha(&op.after()),
        }
    }
}

/// The report of `heal` / `check`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no critical issue was found.
    pub success: bool,
    /// Heals applied (check: heals pending), as human lines.
    pub healed: Vec<String>,
    /// Repairs needed but refused or failed.
    pub failed: Vec<String>,
    /// Critical findings, `CODE: message`.
    pub critical: Vec<String>,
    /// The reference counters.
    pub stats: Stats,
    /// The transaction that recorded this run (none for `check` and dry runs).
    pub transaction: Option<u64>,
    /// The mode decided on.
    pub mode: Mode,
    /// Where the mode came from: `flag`, `env`, `.env` or `default`.
    pub mode_source: ModeSource,
    /// The health score.
    pub health: Health,
    /// Whether the trading engine may start.
    pub start_allowed: bool,
    /// Every operation with its result.
    pub actions: Vec<Action>,
    /// Non-critical findings, `LEVEL CODE: message`.
    pub warnings: Vec<String>,
    /// Every finding, structured.
    pub findings: Vec<Finding>,
    /// Refused repairs, structured.
    pub failures: Vec<Failed>,
    /// What recovery did before the heal, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryReport>,
    /// Whether this was a run that changes nothing (`check`, `--dry-run`).
    pub dry_run: bool,
    /// Alerts not appended again because the same finding was appended within the window.
    pub alerts_suppressed: u64,
}

impl Report {
    /// Repairs the plan holds that were not applied (for `check` exit code 1).
    pub fn pending(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.result == "planned")
            .count()
    }
}

/// Recovery, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryReport {
    /// `rolled_back`, `conflict`, `kept_current`.
    pub outcome: &'static str,
    /// The transaction concerned.
    pub transaction: u64,
    /// Details.
    pub detail: String,
    /// A torn journal tail that was cut, and where it was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torn_tail_saved_to: Option<String>,
}

impl RecoveryReport {
    /// Describes a recovery outcome, or `None` when there was nothing to do.
    pub fn of(outcome: &RecoveryOutcome, torn: Option<String>) -> Option<RecoveryReport> {
        let (o, txn, detail) = match outcome {
            RecoveryOutcome::Clean => {
                return torn.map(|t| RecoveryReport {
                    outcome: "torn_tail",
                    transaction: 0,
                    detail: "a torn journal record was cut".into(),
                    torn_tail_saved_to: Some(t),
                })
            }
            RecoveryOutcome::RolledBack { txn, ops } => {
                let kept = ops
                    .iter()
                    .filter(|o| o.outcome == journal_format::UndoOutcome::KeptCurrent)
                    .count();
                let newer = if kept > 0 {
                    format!("; {kept} file(s) the bot rewrote under its lock since were kept as its newer version and saved to the backups")
                } else {
                    String::new()
                };
                (
                    "rolled_back",
                    *txn,
                    format!(
                        "interrupted transaction {txn} rolled back ({} operation(s) checked{newer})",
                        ops.len()
                    ),
                )
            }
            RecoveryOutcome::Conflict { txn, why } => ("conflict", *txn, why.clone()),
            RecoveryOutcome::KeptCurrent { txn } => (
                "kept_current",
                *txn,
                format!("transaction {txn} closed; the current files were accepted"),
            ),
        };
        Some(RecoveryReport {
            outcome: o,
            transaction: txn,
            detail,
            torn_tail_saved_to: torn,
        })
    }
}
