//! The state layout: the embedded default (the reference bot's layout, README
//! "Configuration") and its override from `config/selfheal.json` (or `--config FILE`).
//! Every item can be overridden; an unknown key, a wrong type or an impossible value is an
//! [`Error::Config`] naming the file and the key, never silently ignored. A section given
//! in the file replaces that whole section's default item by item (missing items keep their
//! default).

use crate::error::{Error, Result};
use crate::paths::RelPath;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod claims;
mod validate;

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/selfheal.json";

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

impl Default for TradingMode {
    fn default() -> TradingMode {
        TradingMode {
            dotenv_fallbacks: vec![
                PathBuf::from("/root/trading-bot-current/.env"),
                PathBuf::from("/root/trading-bot/.env"),
            ],
        }
    }
}

/// A directory of the layout.
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

impl Default for Detectors {
    fn default() -> Detectors {
        Detectors {
            state_mismatch: Severity::Critical,
            partial_fill: Severity::Critical,
            position_conflict: Severity::Critical,
            slot_invalid: Severity::Critical,
            slot_divergence: Severity::Critical,
            slot_inactive_newer: Severity::High,
            data_integrity: None,
            duplicate_instance: None,
            lock_held: None,
            journal_integrity: None,
        }
    }
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

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            full_check_every: 20,
        }
    }
}

fn default_dir_mode() -> String {
    "0755".into()
}

fn default_file_mode() -> String {
    "0644".into()
}

impl Default for Config {
    fn default() -> Config {
        let dir = |p: &str, m: &str| DirSpec {
            path: p.into(),
            mode: m.into(),
        };
        Config {
            directories: vec![
                dir("logs", "0755"),
                dir("config", "0755"),
                dir("configs", "0755"),
                dir("data", "0755"),
                dir("feature_store", "0755"),
                dir("state", "0755"),
                dir("state/heartbeats", "0755"),
                dir("logs/backups", "0755"),
            ],
            files: vec![positions_file(), portfolio_file(), trades_file()],
            heartbeats: Heartbeats::default(),
            locks: Locks::default(),
            processes: Processes::default(),
            positions: Positions::default(),
            slots: Slots::default(),
            detectors: Detectors::default(),
            trading_mode: TradingMode::default(),
            retention: Retention::default(),
            trusted_symlinks: Vec::new(),
            limits: Limits::default(),
            alerts: Alerts::default(),
            watch: Watch::default(),
            journal_key_file: None,
        }
    }
}

fn positions_file() -> ManagedFile {
    let mut required = serde_json::Map::new();
    required.insert("open_positions".into(), Value::Array(Vec::new()));
    required.insert("closed_positions".into(), Value::Array(Vec::new()));
    ManagedFile {
        path: "logs/positions_futures.json".into(),
        role: FileRole::Positions,
        default: Value::Object(required.clone()),
        required_keys: required,
        record_arrays: vec!["open_positions".into(), "closed_positions".into()],
        mode: default_file_mode(),
    }
}

fn portfolio_file() -> ManagedFile {
    let default = serde_json::json!({
        "total_margin_allocated": 0.0,
        "available_margin": 0.0,
        "used_margin": 0.0,
        "unrealized_pnl": 0.0,
        "realized_pnl": 0.0,
        "total_funding_fees": 0.0,
        "total_trading_fees": 0.0,
        "open_positions_count": 0,
        "total_notional_exposure": 0.0,
        "effective_leverage": 0.0,
        "snapshots": []
    });
    ManagedFile {
        path: "logs/portfolio_futures.json".into(),
        role: FileRole::Portfolio,
        default,
        required_keys: serde_json::Map::new(),
        record_arrays: vec!["snapshots".into()],
        mode: default_file_mode(),
    }
}

/// The bot's trades history, created with the keys in the bot's own order. `created_at` is
/// left out: the bot never reads it, and selfheal does not invent the bot's local time.
fn trades_file() -> ManagedFile {
    let mut required = serde_json::Map::new();
    required.insert("trades".into(), Value::Array(Vec::new()));
    ManagedFile {
        path: "logs/trades_futures.json".into(),
        role: FileRole::Trades,
        default: serde_json::json!({"trades": [], "total_trades_count": 0}),
        required_keys: required,
        record_arrays: vec!["trades".into()],
        mode: default_file_mode(),
    }
}

impl Default for Heartbeats {
    fn default() -> Heartbeats {
        Heartbeats {
            json_dir: "state/heartbeats".into(),
            plain_files: vec!["logs/.bot_heartbeat".into()],
            stale_after: "600s".into(),
            max_clock_skew: "300s".into(),
        }
    }
}

impl Default for Locks {
    fn default() -> Locks {
        Locks {
            dirs: vec!["logs".into(), "state".into(), "feature_store".into()],
            suffix: ".lock".into(),
            stale_after: "300s".into(),
            bot_timeout: "10s".into(),
        }
    }
}

impl Default for Processes {
    fn default() -> Processes {
        Processes {
            interpreters: vec!["python".into()],
            script: "run.py".into(),
            min_age: "1h".into(),
            grace: "10s".into(),
        }
    }
}

impl Default for Positions {
    fn default() -> Positions {
        Positions {
            identity: vec!["symbol".into(), "strategy".into(), "direction".into()],
            margin_tolerance: 0.01,
            compare_open_positions_count: false,
        }
    }
}

impl Default for Slots {
    fn default() -> Slots {
        Slots {
            infer: true,
            suffixes: vec!["A".into(), "B".into(), "blue".into(), "green".into()],
            current_link: None,
            known: Vec::new(),
        }
    }
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep: 200,
            older_than: "30d".into(),
            warn_size: "1GiB".into(),
            auto: true,
            max_transactions: 10_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_size: "1GiB".into(),
        }
    }
}

impl Default for Alerts {
    fn default() -> Alerts {
        Alerts {
            file: "logs/operator_alerts.jsonl".into(),
            dedupe_window: "1h".into(),
        }
    }
}

/// The configuration with every value checked and converted.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The configuration as read (what `selfheal config` prints).
    pub config: Config,
    /// Where it came from (`None`: the embedded default).
    pub source: Option<PathBuf>,
    /// Directories and their modes.
    pub directories: Vec<(RelPath, u32)>,
    /// Managed files.
    pub files: Vec<File>,
    /// Heartbeat directory.
    pub heartbeat_dir: RelPath,
    /// Plain heartbeat files.
    pub heartbeat_plain: Vec<RelPath>,
    /// Heartbeat staleness.
    pub heartbeat_stale: Duration,
    /// How far in the future a heartbeat may be dated.
    pub heartbeat_max_skew: Duration,
    /// Lock directories.
    pub lock_dirs: Vec<RelPath>,
    /// Lock staleness.
    pub lock_stale: Duration,
    /// The bot's own lock timeout.
    pub lock_bot_timeout: Duration,
    /// Process min age.
    pub process_min_age: Duration,
    /// SIGTERM to SIGKILL grace.
    pub process_grace: Duration,
    /// Retention window.
    pub retention_older_than: Duration,
    /// Backup size warning threshold.
    pub retention_warn_size: u64,
    /// Maximum file size read.
    pub max_file_size: u64,
    /// Alert log path.
    pub alerts_file: RelPath,
    /// Alert dedupe window.
    pub alerts_dedupe: Duration,
    /// Trusted symlinks, with canonical targets.
    pub trusted: Vec<(RelPath, PathBuf)>,
    /// The journal key file, a relative `journal_key_file` resolved against the directory
    /// of the configuration file.
    pub journal_key: Option<PathBuf>,
}

/// A managed file, checked.
#[derive(Debug, Clone)]
pub struct File {
    /// Relative path.
    pub path: RelPath,
    /// Role.
    pub role: FileRole,
    /// Required keys with the exact text they are restored with.
    pub required: Vec<(String, String)>,
    /// Default document bytes.
    pub default_bytes: Vec<u8>,
    /// Record arrays.
    pub record_arrays: Vec<String>,
    /// Creation mode.
    pub mode: u32,
}

impl Layout {
    /// Loads the configuration: `explicit` if given (it must exist), else
    /// `config/selfheal.json` under `root` if present, else the embedded default.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and the key at fault.
    pub fn load(root: &Path, explicit: Option<&Path>) -> Result<Layout> {
        let (path, text) = match explicit {
            Some(p) => (Some(p.to_path_buf()), Some(read_config(p)?)),
            None => {
                let p = root.join(DEFAULT_CONFIG_PATH);
                match std::fs::symlink_metadata(&p) {
                    Ok(_) => (Some(p.clone()), Some(read_config(&p)?)),
                    Err(_) => (None, None),
                }
            }
        };
        let config = match (&path, text) {
            (Some(p), Some(t)) => parse_config(p, &t)?,
            _ => Config::default(),
        };
        let inside = path.as_deref().and_then(|p| inside_root(root, p));
        validate::layout(config, path, inside)
    }

    /// Checks and converts a configuration.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault.
    pub fn from_config(config: Config, source: Option<PathBuf>) -> Result<Layout> {
        validate::layout(config, source, None)
    }

    /// The managed file with `role`, if configured.
    pub fn file(&self, role: FileRole) -> Option<&File> {
        self.files.iter().find(|f| f.role == role)
    }

    /// Whether `path` is a managed file.
    pub fn is_managed(&self, path: &RelPath) -> bool {
        self.files.iter().any(|f| &f.path == path)
    }
}

/// `path` relative to `root` when it lies inside it (both resolved), else `None`.
pub fn inside_root(root: &Path, path: &Path) -> Option<RelPath> {
    let root = std::fs::canonicalize(root).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    let rest = path.strip_prefix(&root).ok()?;
    RelPath::new(rest.to_str()?).ok()
}

/// The largest configuration or key file read.
pub const MAX_CONFIG_SIZE: u64 = 16 << 20;

fn read_config(path: &Path) -> Result<String> {
    let bad = |why: String| Error::Config {
        file: path.to_path_buf(),
        key: "<file>".into(),
        why,
    };
    let bytes =
        read_regular(path, MAX_CONFIG_SIZE).map_err(|e| bad(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| bad("cannot read: it is not valid UTF-8".into()))
}

/// Reads a small regular file (a configuration, a key) that may live outside the root.
/// Never blocks on a FIFO or a device (opened non-blocking, and refused unless it is a
/// regular file) and never reads more than `cap` bytes.
///
/// # Errors
/// The OS error, or `InvalidData` for something that is not a regular file or is larger
/// than `cap`.
pub fn read_regular(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(invalid("it is a directory".into())),
        _ => return Err(invalid("it is not a regular file".into())),
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > cap {
        return Err(invalid(format!(
            "it is {size} bytes, over the limit of {cap}"
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd).take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn parse_config(path: &Path, text: &str) -> Result<Config> {
    let bad = |key: String, why: String| Error::Config {
        file: path.to_path_buf(),
        key,
        why,
    };
    if !text.trim_start().starts_with('{') {
        return Err(bad(
            "<document>".into(),
            "the configuration must be one JSON object".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let why = e.inner().to_string();
        bad(error_key(&e.path().to_string(), &why), why)
    })?;
    de.end()
        .map_err(|e| bad("<document>".into(), e.to_string()))?;
    Ok(config)
}

/// The dotted key an error is about: the path where it happened, plus the field that
/// serde names as unknown or missing ("unknown field `x`"), so the message leads with it.
fn error_key(path: &str, why: &str) -> String {
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| why.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, field) {
        (".", Some(f)) => f.to_string(),
        (".", None) => "<document>".to_string(),
        (p, Some(f)) if !p.ends_with(f) => format!("{p}.{f}"),
        (p, _) => p.to_string(),
    }
}

/// Parses `"0755"`-style octal modes (3 or 4 digits, at most 0o7777).
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_mode(text: &str) -> std::result::Result<u32, String> {
    let ok = (3..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(text, 8) {
        Ok(m) if ok => Ok(m),
        _ => Err(format!("{text:?} is not an octal mode like \"0644\"")),
    }
}

/// Parses durations like `"600s"`, `"10m"`, `"1h"`, `"7d"`, `"250ms"`.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("{text:?} is not a duration like \"600s\", \"10m\", \"1h\", \"7d\"")
    })?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use ms, s, m, h or d)"
            ))
        }
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses sizes like `"512MiB"`, `"1GiB"`, `"4096"`.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size like \"512MiB\""))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_is_valid() {
        let l = Layout::from_config(Config::default(), None);
        assert!(l.is_ok(), "{:?}", l.err());
    }

    #[test]
    fn units() {
        assert_eq!(parse_duration("600s"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1PB").is_err());
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert!(parse_mode("0855").is_err());
        assert!(parse_mode("75").is_err());
    }
}
