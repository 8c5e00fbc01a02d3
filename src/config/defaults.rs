//! The embedded default configuration: the reference bot's own layout (its directories,
//! its positions, portfolio and trades files, heartbeats, locks and processes) and
//! selfheal's default limits.

use super::schema::{
    Alerts, Config, Detectors, DirSpec, FileRole, Heartbeats, Limits, Locks, ManagedFile,
    Positions, Processes, Retention, Severity, Slots, TradingMode, Watch,
};
use serde_json::Value;
use std::path::PathBuf;

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

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            full_check_every: 20,
        }
    }
}

pub(super) fn default_dir_mode() -> String {
    "0755".into()
}

pub(super) fn default_file_mode() -> String {
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
