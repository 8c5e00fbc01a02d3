//! Findings: what the checks and detectors report that is not itself a repair. A finding
//! with level CRITICAL blocks real mode; its `code` is one of the critical codes the README lists.
//! Findings are data, never errors.

use serde::{Deserialize, Serialize};
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

/// Defines [`Code`], its names, and the [`code`] constants (one per known code).
macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => $name:ident, )*) => {
        /// A finding's code: the critical codes (README, "Troubleshooting"), plus warning codes.
        /// Written and serialized as its SCREAMING name (`DATA_INTEGRITY`). A code read back from
        /// the journal that this version does not know is kept as [`Code::Other`] with its text:
        /// never dropped, never taken for a known (harmless) one.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                $(#[$doc])*
                $variant,
            )*
            /// A code this version does not know (read back from the journal), kept verbatim.
            Other(String),
        }

        impl Code {
            /// Every known code.
            pub const KNOWN: &'static [Code] = &[$(Code::$variant),*];

            /// The code as written (`DATA_INTEGRITY`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Code::$variant => stringify!($name),)*
                    Code::Other(s) => s,
                }
            }

            /// The code written as `s`: a known code, or [`Code::Other`] keeping `s` (so
            /// two codes are equal exactly when their texts are).
            pub fn parse(s: &str) -> Code {
                match s {
                    $(stringify!($name) => Code::$variant,)*
                    other => Code::Other(other.to_string()),
                }
            }
        }

        /// The known codes as constants (`code::DATA_INTEGRITY`).
        pub mod code {
            use super::Code;
            $(
                $(#[$doc])*
                pub const $name: Code = Code::$variant;
            )*
        }
    };
}

codes! {
    /// Portfolio and positions disagree.
    StateMismatch => STATE_MISMATCH,
    /// A filled position whose size is not its order's.
    PartialFill => PARTIAL_FILL,
    /// Two open positions with the same identity.
    PositionConflict => POSITION_CONFLICT,
    /// Invalid or lost position data.
    DataIntegrity => DATA_INTEGRITY,
    /// Another live bot instance in real mode.
    DuplicateInstance => DUPLICATE_INSTANCE,
    /// The deployment slot is not valid.
    SlotInvalid => SLOT_INVALID,
    /// selfheal's own journal or store failed verification, or recovery found a conflict.
    JournalIntegrity => JOURNAL_INTEGRITY,
    /// At startup, a managed state file's bot lock stayed held past the bot's own lock
    /// timeout: the bot would read an empty default and overwrite the file (HIGH in paper
    /// mode).
    LockHeld => LOCK_HELD,
    /// Warning: a stale lock file that was kept (held, naming a live process, or a bot runs).
    StaleLock => STALE_LOCK,
    /// Warning: a heartbeat was stale or unreadable (reset at startup, reported always).
    StaleHeartbeat => STALE_HEARTBEAT,
    /// Warning: a bot instance runs in the root and was not terminated.
    BotInstance => BOT_INSTANCE,
    /// Real mode in a deployment slot whose positions file is missing or empty while a
    /// sibling slot holds open positions (cleared by `selfheal ack`).
    SlotDivergence => SLOT_DIVERGENCE,
    /// Warning: an inactive deployment slot's positions file is newer than the active
    /// slot's (the mark of a slot flip that may have lost positions).
    SlotInactiveNewer => SLOT_INACTIVE_NEWER,
    /// Warning: the root's `.env` left a doubt about `TRADING_MODE`; real mode is assumed.
    ModeUncertain => MODE_UNCERTAIN,
    /// Warning: `logs/backups/` is larger than `retention.warn_size`.
    BackupsSize => BACKUPS_SIZE,
    /// Warning: automatic retention after a heal failed (the heal stands).
    Retention => RETENTION,
    /// Warning: a watch cycle stopped on an operational error; the next cycle retries.
    WatchCycleFailed => WATCH_CYCLE_FAILED,
    /// Prediction: a heartbeat is past 80% of its stale threshold.
    HeartbeatAging => HEARTBEAT_AGING,
    /// Prediction: at the recent rate, free disk space runs out within a day.
    DiskForecast => DISK_FORECAST,
    /// Prediction: the same path was healed again and again (the cause is upstream).
    HealingEscalation => HEALING_ESCALATION,
    /// Prediction: at the recent rate, `logs/backups/` crosses `retention.warn_size` within
    /// a day.
    BackupsGrowth => BACKUPS_GROWTH,
    /// Warning: an entry of a scanned directory (lock files, heartbeats) that selfheal
    /// cannot check and leaves alone: its name cannot be written in the journal (not
    /// UTF-8, control characters), or it is not a regular file.
    UncheckedPath => UNCHECKED_PATH,
    /// Warning: a directory selfheal shares but does not own (`logs/backups/`) is group- or
    /// world-writable; it is reported, not changed.
    InsecurePermissions => INSECURE_PERMISSIONS,
    /// Warning: the alert log is not a plain file selfheal may append to (a symlink, not a
    /// regular file, more than one hard link); alerts go to stderr only.
    AlertLog => ALERT_LOG,
}

impl Code {
    /// Whether this version knows the code (not [`Code::Other`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Code::Other(_))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<&str> for Code {
    fn from(s: &str) -> Code {
        Code::parse(s)
    }
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        match c {
            Code::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Code::parse(&s))
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The code (`DATA_INTEGRITY`, ...).
    pub code: Code,
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
        code: Code,
        level: Level,
        path: Option<&str>,
        message: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Finding {
        Finding {
            code,
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
    pub heal: crate::plan::HealKind,
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

#[cfg(test)]
mod tests {
    use super::{code, Code};

    /// Every known code reads back as itself, and is written, displayed and serialized
    /// as its name.
    #[test]
    fn known_codes_round_trip() {
        assert!(Code::KNOWN.len() >= 24);
        for c in Code::KNOWN {
            assert!(c.is_known());
            assert_eq!(Code::parse(c.as_str()), *c);
            assert_eq!(c.to_string(), c.as_str());
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            let back: Code = serde_json::from_str(&json).unwrap_or(Code::Other(String::new()));
            assert_eq!(back, *c);
        }
        assert_eq!(code::DATA_INTEGRITY.as_str(), "DATA_INTEGRITY");
        assert_eq!(code::SLOT_DIVERGENCE.as_str(), "SLOT_DIVERGENCE");
    }

    /// A code this version does not know is kept with its text: it equals no known code,
    /// not even one differing only in case, and is written back unchanged.
    #[test]
    fn unknown_codes_are_kept() {
        for text in ["FUTURE_CODE", "data_integrity", "", "SLOT_DIVERGENCE "] {
            let c = Code::parse(text);
            assert_eq!(c, Code::Other(text.to_string()));
            assert!(!c.is_known());
            assert!(!Code::KNOWN.contains(&c));
            assert_eq!(c.as_str(), text);
            assert_eq!(String::from(c.clone()), text);
            let back: Code = serde_json::from_value(serde_json::json!(text))
                .unwrap_or(Code::Other("wrong".into()));
            assert_eq!(back, c);
        }
    }
}
