//! The commit summary of a run (`heal` and `watch` transactions, SPEC.md "Run summary"):
//! the members later runs decide on, typed. A writer builds a [`RunSummary`] and serializes
//! it; a reader parses one with [`RunSummary::read`], which fails on a missing or mistyped
//! decision member instead of reading it as empty: whoever reads a summary that does not
//! parse must assume the worst of that run (SPEC.md says what a reader does then).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The commands whose commit summary is a [`RunSummary`].
pub const RUN_COMMANDS: [&str; 2] = ["heal", "watch"];

/// A critical finding as a run summary records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// Its code.
    pub code: String,
    /// Its path, if any.
    pub path: Option<String>,
    /// What was seen (stable between runs while nothing changes).
    pub evidence: String,
}

/// One salvage a run applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalvageEntry {
    /// The file salvaged.
    pub path: String,
    /// Records lost (counted).
    pub records_lost: u64,
    /// Whether more may be lost than counted (the file was cut or damaged inside).
    pub records_lost_is_lower_bound: bool,
    /// Whether the file held more than one version.
    pub ambiguous: bool,
    /// Whether the operator accepted the loss (`heal --accept-loss`).
    pub accepted: bool,
    /// Every other member (outcome, records kept, bytes lost, versions), for audit.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl SalvageEntry {
    /// Whether the salvage needs an acknowledgement before real mode: records lost, maybe
    /// lost, or two versions, and the loss not accepted.
    pub fn needs_ack(&self) -> bool {
        !self.accepted
            && (self.records_lost > 0 || self.records_lost_is_lower_bound || self.ambiguous)
    }
}

/// The commit summary of a `heal` or `watch` transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The salvages applied.
    pub salvage: Vec<SalvageEntry>,
    /// What was healed, in words.
    pub healed: Vec<String>,
    /// Repairs needed but refused or failed, in words.
    pub failed: Vec<String>,
    /// The critical findings.
    pub critical: Vec<Critical>,
    /// The health status (`healthy`, `degraded`, `critical`).
    pub status: String,
    /// Whether the trading engine was allowed to start.
    pub start_allowed: bool,
    /// The positions files known to exist after the run (or known and gone).
    pub known_files: Vec<String>,
    /// Free bytes of the filesystem holding `logs/backups/`, just before the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free: Option<u64>,
    /// The size of `logs/backups/`, just before the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_bytes: Option<u64>,
    /// Every other member (counters, health score, duration), for audit and metrics.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl RunSummary {
    /// Parses a run's commit summary.
    ///
    /// # Errors
    /// What is missing or mistyped, in words (`missing field known_files`).
    pub fn read(summary: &Value) -> Result<RunSummary, String> {
        RunSummary::deserialize(summary).map_err(|e| e.to_string())
    }

    /// The summary as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
