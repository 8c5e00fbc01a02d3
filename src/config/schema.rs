//! The configuration as `config/selfheal.json` spells it: every section and item, with
//! serde's names. Unknown keys are refused (`deny_unknown_fields`); a section given in the
//! file replaces the default section item by item (`default`).

use super::defaults::{default_dir_mode, default_file_mode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directories that must exist, with the mode they are created with.
    pub directories: Vec<DirSpec>,
    /// Managed JSON files.
    pub files: Vec<ManagedFile>,
    /// Heartbeat files.
    pub heartbeats: Heartbeats,
    /// Lock files.
    pub locks: Locks,
    /// Bot instances and orphan processes.
    pub processes: Processes,
    /// Position semantics for the detectors.
    pub positions: Positions,
    /// Blue/green deployment slots.
    pub slots: Slots,
    /// The level each configurable detector reports at.
    pub detectors: Detectors,
    /// Where the trading mode is looked up besides `--mode`, the environment and the
    /// root's `.env`.
    pub trading_mode: TradingMode,
    /// Journal and backup retention.
    pub retention: Retention,
    /// Symlinks inside the root that may be crossed, and the directory each must name.
    pub trusted_symlinks: Vec<TrustedSymlink>,
    /// Size limit for reading state files.
    pub limits: Limits,
    /// The operator alert log.
    pub alerts: Alerts,
    /// `watch`'s cycles.
    pub watch: Watch,
    /// A file outside the root holding the journal's HMAC key (keyed audit chain).
    pub journal_key_file: Option<PathBuf>,
}

/// Where the trading mode is looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingMode {
    /// `.env` files read, in order, when the root has none: the first that exists is the
    /// one the bot loads (absolute paths, read only). The default is the reference bot's
    /// own list.
    pub dotenv_fallbacks: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Relative path.
    pub path: String,
    /// Mode it is created with, octal text (`"0755"`).
    #[serde(default = "default_dir_mode")]
    pub mode: String,
}

/// What a managed JSON file holds, for salvage and the detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    /// The positions file (`open_positions`, `closed_positions`).
    Positions,
    /// The portfolio file.
    Portfolio,
    /// The closed-trades history (`trades`, `total_trades_count`).
    Trades,
    /// Any other JSON object file.
    Json,
}

impl FileRole {
    /// What a message calls a file of this role (`positions file`).
    pub fn noun(self) -> &'static str {
        match self {
            FileRole::Positions => "positions file",
            FileRole::Portfolio => "portfolio file",
            FileRole::Trades => "trades file",
            FileRole::Json => "file",
        }
    }
}

/// A managed JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedFile {
    /// Relative path.
    pub path: String,
    /// What it holds.
    pub role: FileRole,
    /// Keys that must be present, each with the value it is restored with when missing.
    #[serde(default)]
    pub required_keys: serde_json::Map<String, Value>,
    /// The whole document a missing or empty file is initialised with.
    pub default: Value,
    /// Top-level keys whose values are arrays of records (salvaged record by record).
    #[serde(default)]
    pub record_arrays: Vec<String>,
    /// Mode a new file is created with.
    #[serde(default = "default_file_mode")]
    pub mode: String,
}

/// Heartbeat files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Heartbeats {
    /// Directory of JSON heartbeats (`{"component","last_heartbeat_ts","last_heartbeat_dt",...}`).
    pub json_dir: String,
    /// Plain heartbeat files: ISO-8601 text (without a zone: UTC) or an epoch number.
    pub plain_files: Vec<String>,
    /// Age after which a heartbeat is stale.
    pub stale_after: String,
    /// How far in the future a heartbeat may be dated (clock skew) before it is distrusted.
    pub max_clock_skew: String,
}

/// Lock files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Locks {
    /// Directories scanned (not recursively) for lock files.
    pub dirs: Vec<String>,
    /// File name suffix of a lock file.
    pub suffix: String,
    /// Age after which an unheld lock is stale.
    pub stale_after: String,
    /// How long the bot waits for one of its locks before it gives up (its readers then
    /// use an empty default): how long selfheal waits for a held lock at startup, and how
    /// long a lock may stay held before it is reported.
    pub bot_timeout: String,
}

/// Bot instances and orphan processes. A process is a bot when its interpreter (the file
/// name of its first argument) is one of `interpreters`, alone or followed by a version
/// (`python3`, `python3.11`), and its script (the file name of the interpreter's first
/// argument that is not an option) is `script`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Processes {
    /// Interpreter names (`python`).
    pub interpreters: Vec<String>,
    /// The bot's entry script, a file name (`run.py`).
    pub script: String,
    /// A process younger than this is never terminated as an orphan.
    pub min_age: String,
    /// Time between SIGTERM and SIGKILL.
    pub grace: String,
}

/// Position semantics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Positions {
    /// Fields that identify a position (two open positions with the same identity conflict).
    pub identity: Vec<String>,
    /// Allowed difference between `used_margin` and the sum of `margin_collateral`.
    pub margin_tolerance: f64,
    /// Also compare the portfolio's `open_positions_count` with the open positions (off by
    /// default: the reference bot writes that counter once and never maintains it).
    pub compare_open_positions_count: bool,
}

/// Blue/green deployment slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slots {
    /// Infer slots from the root's siblings (`<name>-current` beside `<name>-<suffix>`).
    pub infer: bool,
    /// The slot suffixes: `<name>-<suffix>` directories are the slots.
    pub suffixes: Vec<String>,
    /// The `...-current` link, when given explicitly (absolute path).
    pub current_link: Option<PathBuf>,
    /// Known slot directories, when given explicitly (absolute paths).
    pub known: Vec<PathBuf>,
}

/// The level a configurable detector's findings are reported at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// CRITICAL: blocks real mode (in paper mode SLOT_INVALID and SLOT_DIVERGENCE are HIGH).
    Critical,
    /// HIGH: a warning, never blocks.
    High,
    /// Not reported.
    Off,
}

/// The level of each configurable detector. DATA_INTEGRITY, DUPLICATE_INSTANCE, LOCK_HELD
/// and JOURNAL_INTEGRITY are not configurable: each guards against losing data (a damaged
/// or vanished positions file the bot would reset, a second writer, a held lock that makes
/// the bot read and then save an empty state, an untrustworthy journal or backup); naming
/// one here is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detectors {
    /// Portfolio and positions disagree.
    #[serde(rename = "STATE_MISMATCH")]
    pub state_mismatch: Severity,
    /// A filled position whose size is not its order's.
    #[serde(rename = "PARTIAL_FILL")]
    pub partial_fill: Severity,
    /// Two open positions with the same identity.
    #[serde(rename = "POSITION_CONFLICT")]
    pub position_conflict: Severity,
    /// The deployment slot is not valid.
    #[serde(rename = "SLOT_INVALID")]
    pub slot_invalid: Severity,
    /// An empty slot beside a slot holding open positions.
    #[serde(rename = "SLOT_DIVERGENCE")]
    pub slot_divergence: Severity,
    /// An inactive slot's positions file is newer than the active slot's.
    #[serde(rename = "SLOT_INACTIVE_NEWER")]
    pub slot_inactive_newer: Severity,
    /// Not configurable (refused when present).
    #[serde(
        rename = "DATA_INTEGRITY",
        skip_serializing,
        deserialize_with = "present"
    )]
    pub data_integrity: Option<Value>,
    /// Not configurable (refused when present).
    #[serde(
        rename = "DUPLICATE_INSTANCE",
        skip_serializing,
        deserialize_with = "present"
    )]
    pub duplicate_instance: Option<Value>,
    /// Not configurable (refused when present).
    #[serde(rename = "LOCK_HELD", skip_serializing, deserialize_with = "present")]
    pub lock_held: Option<Value>,
    /// Not configurable (refused when present).
    #[serde(
        rename = "JOURNAL_INTEGRITY",
        skip_serializing,
        deserialize_with = "present"
    )]
    pub journal_integrity: Option<Value>,
}

impl Detectors {
    /// The configured level of `code`, if it is configurable.
    pub fn severity(&self, code: &crate::findings::Code) -> Option<Severity> {
        use crate::findings::code as c;
        Some(match *code {
            c::STATE_MISMATCH => self.state_mismatch,
            c::PARTIAL_FILL => self.partial_fill,
            c::POSITION_CONFLICT => self.position_conflict,
            c::SLOT_INVALID => self.slot_invalid,
            c::SLOT_DIVERGENCE => self.slot_divergence,
            c::SLOT_INACTIVE_NEWER => self.slot_inactive_newer,
            _ => return None,
        })
    }
}

/// Any value given, `null` included, is `Some`: its presence is what matters.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Retention of the journal and backups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Always keep at least this many newest transactions (prune transactions do not
    /// count; SPEC.md section 10).
    pub keep: u64,
    /// Only transactions older than this may be pruned.
    pub older_than: String,
    /// `heal` warns when `logs/backups/` grows beyond this size.
    pub warn_size: String,
    /// Prune automatically at the end of `heal` and `watch` cycles.
    pub auto: bool,
    /// The journal keeps at most this many transactions, however young (the oldest go
    /// first; an unacknowledged lossy salvage still stops retention).
    pub max_transactions: u64,
}

/// A trusted symlink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSymlink {
    /// Where the link is, relative to the root.
    pub link: String,
    /// The directory it must resolve to (absolute).
    pub target: PathBuf,
}

/// Reading limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A state file larger than this is not read; its heal fails with a clear reason.
    pub max_file_size: String,
}

/// The alert log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// Relative path of the JSON Lines alert log.
    pub file: String,
    /// The same finding is not appended again within this window.
    pub dedupe_window: String,
}

/// `watch`'s cycles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Watch {
    /// Every this many cycles, every managed file is read again even if it looks unchanged
    /// (1: every cycle reads every file).
    pub full_check_every: u64,
}
