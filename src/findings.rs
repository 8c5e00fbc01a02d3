//! Findings: what the checks and detectors report that is not itself a repair. A finding
//! with level CRITICAL blocks real mode; its `code` is one of the critical codes the README lists.
//! Findings are data, never errors.

use serde::Serialize;
use std::fmt;

/// Alert level, as the reference bot writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Informational.
    Low,
    /// Worth a look.
    Medium,
    /// A warning an operator should act on soon.
    High,
    /// Dangerous: never auto-healed, blocks real mode.
    Critical,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Low => "LOW",
            Level::Medium => "MEDIUM",
            Level::High => "HIGH",
            Level::Critical => "CRITICAL",
        })
    }
}

/// The critical codes (README, "Troubleshooting"), plus warning codes.
pub mod code {
    /// Portfolio and positions disagree.
    pub const STATE_MISMATCH: &str = "STATE_MISMATCH";
    /// A filled position whose size is not its order's.
    pub const PARTIAL_FILL: &str = "PARTIAL_FILL";
    /// Two open positions with the same identity.
    pub const POSITION_CONFLICT: &str = "POSITION_CONFLICT";
    /// Invalid or lost position data.
    pub const DATA_INTEGRITY: &str = "DATA_INTEGRITY";
    /// Another live bot instance in real mode.
    pub const DUPLICATE_INSTANCE: &str = "DUPLICATE_INSTANCE";
    /// The deployment slot is not valid.
    pub const SLOT_INVALID: &str = "SLOT_INVALID";
    /// selfheal's own journal or store failed verification, or recovery found a conflict.
    pub const JOURNAL_INTEGRITY: &str = "JOURNAL_INTEGRITY";
    /// At startup, a managed state file's bot lock stayed held past the bot's own lock
    /// timeout: the bot would read an empty default and overwrite the file (HIGH in paper
    /// mode).
    pub const LOCK_HELD: &str = "LOCK_HELD";
    /// Warning: a stale lock file that was kept (held, naming a live process, or a bot runs).
    pub const STALE_LOCK: &str = "STALE_LOCK";
    /// Warning: a heartbeat was stale or unreadable (reset at startup, reported always).
    pub const STALE_HEARTBEAT: &str = "STALE_HEARTBEAT";
    /// Warning: a bot instance runs in the root and was not terminated.
    pub const BOT_INSTANCE: &str = "BOT_INSTANCE";
    /// Real mode in a deployment slot whose positions file is missing or empty while a
    /// sibling slot holds open positions (cleared by `selfheal ack`).
    pub const SLOT_DIVERGENCE: &str = "SLOT_DIVERGENCE";
    /// Warning: an inactive deployment slot's positions file is newer than the active
    /// slot's (the mark of a slot flip that may have lost positions).
    pub const SLOT_INACTIVE_NEWER: &str = "SLOT_INACTIVE_NEWER";
    /// Warning: the root's `.env` left a doubt about `TRADING_MODE`; real mode is assumed.
    pub const MODE_UNCERTAIN: &str = "MODE_UNCERTAIN";
    /// Warning: `logs/backups/` is larger than `retention.warn_size`.
    pub const BACKUPS_SIZE: &str = "BACKUPS_SIZE";
    /// Warning: automatic retention after a heal failed (the heal stands).
    pub const RETENTION: &str = "RETENTION";
    /// Warning: a watch cycle stopped on an operational error; the next cycle retries.
    pub const WATCH_CYCLE_FAILED: &str = "WATCH_CYCLE_FAILED";
    /// Prediction: a heartbeat is past 80% of its stale threshold.
    pub const HEARTBEAT_AGING: &str = "HEARTBEAT_AGING";
    /// Prediction: at the recent rate, free disk space runs out within a day.
    pub const DISK_FORECAST: &str = "DISK_FORECAST";
    /// Prediction: the same path was healed again and again (the cause is upstream).
    pub const HEALING_ESCALATION: &str = "HEALING_ESCALATION";
    /// Prediction: at the recent rate, `logs/backups/` crosses `retention.warn_size` within
    /// a day.
    pub const BACKUPS_GROWTH: &str = "BACKUPS_GROWTH";
    /// Warning: an entry of a scanned directory (lock files, heartbeats) that selfheal
    /// cannot check and leaves alone: its name cannot be written in the journal (not
    /// UTF-8, control characters), or it is not a regular file.
    pub const UNCHECKED_PATH: &str = "UNCHECKED_PATH";
    /// Warning: a directory selfheal shares but does not own (`logs/backups/`) is group- or
    /// world-writable; it is reported, not changed.
    pub const INSECURE_PERMISSIONS: &str = "INSECURE_PERMISSIONS";
    /// Warning: the alert log is not a plain file selfheal may append to (a symlink, not a
    /// regular file, more than one hard link); alerts go to stderr only.
    pub const ALERT_LOG: &str = "ALERT_LOG";
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The code (`DATA_INTEGRITY`, ...).
    pub code: String,
    /// The level.
    pub level: Level,
    /// The path concerned, if any.
    pub path: Option<String>,
    /// A sentence for the operator.
    pub message: String,
    /// Structured details (copied into the alert).
    pub details: serde_json::Value,
    /// A stable description of what was seen; with code and path it identifies the finding
    /// for alert deduplication (so it must not contain times or ages).
    pub evidence: String,
}

impl Finding {
    /// A finding with empty details.
    pub fn new(
        code: &str,
        level: Level,
        path: Option<&str>,
        message: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Finding {
        Finding {
            code: code.to_string(),
            level,
            path: path.map(str::to_string),
            message: message.into(),
            details: serde_json::Value::Object(serde_json::Map::new()),
            evidence: evidence.into(),
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Finding {
        self.details = details;
        self
    }

    /// Whether it blocks real mode.
    pub fn is_critical(&self) -> bool {
        self.level == Level::Critical
    }

    /// `CODE: message`, as the report's `critical` list shows it.
    pub fn line(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// A repair that was needed but refused at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The heal kind.
    pub heal: String,
    /// The path, if any.
    pub path: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

impl Failed {
    /// The line shown in the report's `failed` list.
    pub fn line(&self) -> String {
        match &self.path {
            Some(p) => format!("{}: {p}: {}", self.heal, self.reason),
            None => format!("{}: {}", self.heal, self.reason),
        }
    }
}
