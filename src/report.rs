//! The report of `heal` and `check`: a superset of the reference bot's `self_heal()` result
//! (`success`, `healed`, `failed`, `critical`, `stats`) plus `transaction`, `mode`,
//! `mode_source`, `health`, `start_allowed` and structured `actions`. It is what `--json`
//! prints and what the library returns; the human rendering lives in the CLI. An operation
//! not yet applied (`check`, `--dry-run`) is worded as what would be done, never as done.

use crate::findings::{Failed, Finding};
use crate::health::Health;
use crate::mode::{Mode, ModeSource};
use crate::plan::OpResult;
use crate::plan::{HealKind, Op};
use crate::recovery::RecoveryOutcome;
use journal_format::{Node, OpKind};
use serde::Serialize;

/// The reference bot's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealCounts {
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

impl HealCounts {
    /// Counts one applied heal of kind `heal`.
    pub fn count(&mut self, heal: HealKind) {
        match heal {
            HealKind::MissingDirectory | HealKind::BootstrapDirectory => {
                self.directories_created += 1;
            }
            HealKind::MissingFile => self.files_created += 1,
            HealKind::StaleHeartbeat => self.heartbeats_reset += 1,
            HealKind::StaleLock => self.locks_cleared += 1,
            HealKind::OrphanProcess => self.orphans_killed += 1,
            HealKind::Rollback => {}
            HealKind::EmptyFile
            | HealKind::MissingKeys
            | HealKind::ManagedFile
            | HealKind::CorruptedJson
            | HealKind::InsecurePermissions
            | HealKind::Recovery => self.files_repaired += 1,
        }
    }
}

/// What became of an operation, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    /// Only planned (`check`, `--dry-run`).
    Planned,
    /// Applied.
    Applied,
    /// Skipped (its path changed since it was planned).
    Skipped,
}

impl ActionResult {
    /// The result as written (`applied`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionResult::Planned => "planned",
            ActionResult::Applied => "applied",
            ActionResult::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for ActionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One operation as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The heal kind.
    pub heal: HealKind,
    /// The filesystem effect.
    pub kind: OpKind,
    /// The path, if any.
    pub path: Option<String>,
    /// The human line.
    pub message: String,
    /// Applied, skipped or planned (check / dry run).
    pub result: ActionResult,
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
        let message = match result {
            None => planned_message(&op.message),
            Some(_) => op.message.clone(),
        };
        let (result, skipped_because) = match result {
            None => (ActionResult::Planned, None),
            Some(OpResult::Applied) => (ActionResult::Applied, None),
            Some(OpResult::Skipped(why)) => (ActionResult::Skipped, Some(why.clone())),
        };
        Action {
            heal: op.heal,
            kind: op.kind(),
            path: op.path.as_ref().map(|p| p.to_string()),
            message,
            result,
            skipped_because,
            reason: op.reason.clone(),
            before_sha256: op.before.node().and_then(sha),
            after_sha256: sha(&op.after()),
        }
    }
}

/// The past-tense verbs an operation's message starts with, and their base forms.
const VERBS: &[(&str, &str)] = &[
    ("Added", "add"),
    ("Created", "create"),
    ("Initialized", "initialize"),
    ("Recreated", "recreate"),
    ("Removed", "remove"),
    ("Repaired", "repair"),
    ("Reset", "reset"),
    ("Restored", "restore"),
    ("Terminated", "terminate"),
    ("Tightened", "tighten"),
];

/// An operation's message (`Created directory: logs`, what was done) as it reads before
/// the operation is applied: `Would create directory: logs`.
pub fn planned_message(done: &str) -> String {
    let (verb, rest) = done.split_once(' ').unwrap_or((done, ""));
    match VERBS.iter().find(|(past, _)| *past == verb) {
        Some((_, base)) if rest.is_empty() => format!("Would {base}"),
        Some((_, base)) => format!("Would {base} {rest}"),
        None => format!("Would apply: {done}"),
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
    pub stats: HealCounts,
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
    pub recovery: Option<RecoverySummary>,
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
            .filter(|a| a.result == ActionResult::Planned)
            .count()
    }
}

/// What recovery did, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryResult {
    /// Only a torn journal tail was cut.
    TornTail,
    /// The interrupted transaction was rolled back.
    RolledBack,
    /// A path matched neither side: nothing was changed, the run is blocked.
    Conflict,
    /// The operator kept the current files.
    KeptCurrent,
}

impl RecoveryResult {
    /// The outcome as written (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryResult::TornTail => "torn_tail",
            RecoveryResult::RolledBack => "rolled_back",
            RecoveryResult::Conflict => "conflict",
            RecoveryResult::KeptCurrent => "kept_current",
        }
    }
}

impl std::fmt::Display for RecoveryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Recovery, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoverySummary {
    /// What recovery did.
    pub outcome: RecoveryResult,
    /// The transaction concerned.
    pub transaction: u64,
    /// Details.
    pub detail: String,
    /// A torn journal tail that was cut, and where it was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torn_tail_saved_to: Option<String>,
}

impl RecoverySummary {
    /// Describes a recovery outcome, or `None` when there was nothing to do.
    pub fn of(outcome: &RecoveryOutcome, torn: Option<String>) -> Option<RecoverySummary> {
        let (o, txn, detail) = match outcome {
            RecoveryOutcome::Clean => {
                return torn.map(|t| RecoverySummary {
                    outcome: RecoveryResult::TornTail,
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
                    format!(
                        "; {} the bot rewrote under its lock since kept as its newer version and saved to the backups",
                        crate::text::count(kept, "file", "files")
                    )
                } else {
                    String::new()
                };
                (
                    RecoveryResult::RolledBack,
                    *txn,
                    format!(
                        "interrupted transaction {txn} rolled back ({} checked{newer})",
                        crate::text::count(ops.len(), "operation", "operations")
                    ),
                )
            }
            RecoveryOutcome::Conflict { txn, why } => (RecoveryResult::Conflict, *txn, why.clone()),
            RecoveryOutcome::KeptCurrent { txn } => (
                RecoveryResult::KeptCurrent,
                *txn,
                format!("transaction {txn} closed; the current files were accepted"),
            ),
        };
        Some(RecoverySummary {
            outcome: o,
            transaction: txn,
            detail,
            torn_tail_saved_to: torn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results and recovery outcomes serialize and display as their written names.
    #[test]
    fn results_and_outcomes_are_written_as_before() {
        let results = [
            (ActionResult::Planned, "planned"),
            (ActionResult::Applied, "applied"),
            (ActionResult::Skipped, "skipped"),
        ];
        for (r, want) in results {
            assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::json!(want)));
            assert_eq!(r.to_string(), want);
        }
        let outcomes = [
            (RecoveryResult::TornTail, "torn_tail"),
            (RecoveryResult::RolledBack, "rolled_back"),
            (RecoveryResult::Conflict, "conflict"),
            (RecoveryResult::KeptCurrent, "kept_current"),
        ];
        for (o, want) in outcomes {
            assert_eq!(serde_json::to_value(o).ok(), Some(serde_json::json!(want)));
            assert_eq!(o.to_string(), want);
        }
    }

    /// Each heal kind counts where the reference counters put it.
    #[test]
    fn stats_count_by_kind() {
        let mut s = HealCounts::default();
        for k in [
            HealKind::MissingDirectory,
            HealKind::BootstrapDirectory,
            HealKind::MissingFile,
            HealKind::StaleHeartbeat,
            HealKind::StaleLock,
            HealKind::OrphanProcess,
            HealKind::Rollback,
            HealKind::EmptyFile,
            HealKind::CorruptedJson,
        ] {
            s.count(k);
        }
        let want = HealCounts {
            files_created: 1,
            files_repaired: 2,
            directories_created: 2,
            heartbeats_reset: 1,
            locks_cleared: 1,
            orphans_killed: 1,
        };
        assert_eq!(s, want);
    }

    #[test]
    fn planned_messages_are_conditional() {
        let cases: &[(&str, &str)] = &[
            ("Created directory: logs", "Would create directory: logs"),
            (
                "Initialized positions file: logs/p.json",
                "Would initialize positions file: logs/p.json",
            ),
            (
                "Reset stale heartbeat: a (state/a.json, stale for 9 s)",
                "Would reset stale heartbeat: a (state/a.json, stale for 9 s)",
            ),
            ("Restored mode 0644: x", "Would restore mode 0644: x"),
            ("Recreated directory: d", "Would recreate directory: d"),
            ("Removed file: f", "Would remove file: f"),
            (
                "Tightened permissions: f 0666 -> 0644",
                "Would tighten permissions: f 0666 -> 0644",
            ),
        ];
        for (done, want) in cases {
            assert_eq!(planned_message(done), *want, "input: {done}");
        }
    }

    /// Every operation message in the sources starts with a verb of [`VERBS`], so no
    /// planned operation reads in the past tense.
    #[test]
    fn every_operation_message_has_a_known_verb() {
        // Built in two pieces, so this test does not find its own needle.
        let needle = ["message: ", "format!("].concat();
        let mut seen = 0;
        for file in rust_sources(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for (i, _) in text.match_indices(&needle) {
                let after = text.get(i + needle.len()..).unwrap_or_default();
                let Some(literal) = after.trim_start().strip_prefix('"') else {
                    continue;
                };
                let verb = literal.split([' ', ':', '"']).next().unwrap_or_default();
                assert!(
                    VERBS.iter().any(|(past, _)| *past == verb),
                    "{}: message verb {verb} is not in VERBS",
                    file.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 8, "only {seen} operation messages found");
    }

    fn rust_sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(rust_sources(&p));
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
        out
    }
}
