//! A bot's state root with the default layout (made by the real binary's `heal --init`),
//! the position and portfolio documents the reference bot writes, and its operator alert
//! log: the state the detector, alert and health tests start from. Runs go through the
//! one clean-environment builder; the state is compared by content through the one walker.

pub use super::{bin_on, clean, contents, Run, BIN};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The alert log, relative to the root.
pub const ALERTS: &str = "logs/operator_alerts.jsonl";
/// The positions file, relative to the root.
pub const POSITIONS: &str = "logs/positions_futures.json";
/// The portfolio file, relative to the root.
pub const PORTFOLIO: &str = "logs/portfolio_futures.json";

/// The keys of an alert line, in order.
pub const ALERT_KEYS: [&str; 9] = [
    "level",
    "category",
    "message",
    "details",
    "action_required",
    "timestamp",
    "timestamp_iso",
    "ts",
    "transaction",
];

/// A state root inside a temporary directory.
pub struct Bot {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The root.
    pub root: PathBuf,
}

impl Bot {
    /// A root named `bot` with the default layout, initialised by `heal --init` (paper).
    pub fn new() -> Bot {
        Bot::named("bot")
    }

    /// A root named `name` beside others in the same temporary directory.
    pub fn named(name: &str) -> Bot {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join(name);
        let bot = Bot { dir, root };
        bot.init();
        bot
    }

    /// Runs `heal --init --mode paper` on the root.
    pub fn init(&self) {
        let out = self.run(&["--json", "heal", "--init", "--mode", "paper"], &[]);
        assert_eq!(out.code, 0, "init failed: {}", out.stderr);
    }

    /// `path` under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `bytes` to `rel`.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.path(rel), bytes).expect("write");
    }

    /// Writes the positions file and a portfolio that agrees with it.
    pub fn write_state(&self, open: &[Value], closed: &[Value]) {
        self.write_positions(open, closed);
        let margin: f64 = open
            .iter()
            .filter_map(|p| p["margin_collateral"].as_f64())
            .sum();
        self.write_portfolio(open.len(), margin);
    }

    /// Writes the positions file (pretty, as the reference bot does).
    pub fn write_positions(&self, open: &[Value], closed: &[Value]) {
        let doc = json!({
            "open_positions": open,
            "closed_positions": closed,
            "created_at": "2026-11-01T10:00:00",
        });
        self.write(POSITIONS, serde_json::to_vec_pretty(&doc).expect("json"));
    }

    /// Writes a portfolio with `count` open positions and `used_margin`.
    pub fn write_portfolio(&self, count: usize, used_margin: f64) {
        let doc = json!({
            "total_margin_allocated": 10000.0,
            "available_margin": 10000.0 - used_margin,
            "used_margin": used_margin,
            "unrealized_pnl": 0.0,
            "realized_pnl": 0.0,
            "total_funding_fees": 0.0,
            "total_trading_fees": 0.0,
            "open_positions_count": count,
            "total_notional_exposure": 0.0,
            "effective_leverage": 0.0,
            "snapshots": [],
        });
        self.write(PORTFOLIO, serde_json::to_vec_pretty(&doc).expect("json"));
    }

    /// Runs the binary on this root with `args` and only the `env` given (no
    /// `TRADING_MODE`, `SELFHEAL_ROOT` or `RUST_LOG` from the caller).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Run::of(bin_on(&self.root).args(args).envs(env.iter().copied()))
    }

    /// `--json heal --mode MODE`.
    pub fn heal(&self, mode: &str) -> Run {
        self.run(&["--json", "heal", "--mode", mode], &[])
    }

    /// Every alert line, parsed (a line that is not JSON fails the test).
    pub fn alerts(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path(ALERTS)).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("alert line is JSON"))
            .collect()
    }

    /// The managed state: every file and directory under the root except selfheal's own
    /// backups/journal and the alert log, with its bytes (a symlink: its target).
    pub fn state(&self) -> BTreeMap<String, Vec<u8>> {
        let mut all = contents(&self.root);
        all.retain(|k, _| !k.starts_with("logs/backups") && k != ALERTS);
        all
    }

    /// Everything under the root, selfheal's own files included.
    pub fn everything(&self) -> BTreeMap<String, Vec<u8>> {
        contents(&self.root)
    }
}

/// A valid open position.
pub fn position(symbol: &str, strategy: &str, direction: &str) -> Value {
    json!({
        "symbol": symbol,
        "direction": direction,
        "strategy": strategy,
        "entry_price": 43250.5,
        "size": 1000.0,
        "leverage": 5,
        "margin_collateral": 200.0,
        "liquidation_price": null,
        "peak_price": null,
        "scaled": 0,
        "opened_at": "2026-11-27T10:00:00-07:00",
        "execution_timestamp": 1_795_804_342.5,
        "venue": "futures",
    })
}

/// A valid closed position.
pub fn closed(symbol: &str, strategy: &str, direction: &str, i: usize) -> Value {
    let mut p = position(symbol, strategy, direction);
    p["exit_price"] = json!(43300.0 + i as f64);
    p["closed_at"] = json!("2026-11-27T11:00:00-07:00");
    p["close_reason"] = json!("take_profit");
    p["pnl"] = json!(1.25);
    p["net_pnl"] = json!(1.0);
    p
}

/// Checks one alert line's shape: the reference keys plus `ts` and `transaction`, in order.
pub fn assert_alert_shape(alert: &Value) {
    let keys: Vec<&str> = alert
        .as_object()
        .expect("alert is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ALERT_KEYS, "alert: {alert}");
    assert!(alert["timestamp"].is_f64(), "alert: {alert}");
    let iso = alert["timestamp_iso"].as_str().expect("timestamp_iso");
    assert!(chrono::NaiveDateTime::parse_from_str(iso, "%Y-%m-%dT%H:%M:%S%.f").is_ok());
    let ts = alert["ts"].as_str().expect("ts");
    assert!(ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok());
    assert!(alert["details"].is_object());
    assert!(alert["action_required"].is_boolean());
}

/// The alerts of category `code`.
pub fn alerts_of<'a>(alerts: &'a [Value], code: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["category"] == code).collect()
}
