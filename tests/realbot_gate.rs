//! The start gate on the reference bot's own state (`tests/fixtures/realbot/sample`: 6 open
//! and 3 closed positions, written by the bot's code). The bot keeps `used_margin` equal to
//! the open positions' `margin_collateral` and writes `open_positions_count` once as 0, so
//! real mode starts on that intact state; a lost open position is STATE_MISMATCH; the
//! `open_positions_count` comparison is a configuration switch, off by default.

use crate::support::copy_tree;
use crate::support::procs::{put, selfheal, tempdir};
use serde_json::Value;
use std::path::Path;

const POSITIONS: &str = "logs/positions_futures.json";

/// A copy of the sample root with every heartbeat rewritten as fresh, in its own format.
fn sample() -> tempfile::TempDir {
    let dir = tempdir();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realbot/sample");
    copy_tree(&fixture, dir.path());
    let now = chrono::Utc::now();
    let hb = dir.path().join("state/heartbeats");
    for e in std::fs::read_dir(&hb).expect("heartbeats").flatten() {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json");
        v["last_heartbeat_ts"] = now.timestamp().into();
        v["last_heartbeat_dt"] = now.format("%Y-%m-%d %H:%M:%S UTC").to_string().into();
        std::fs::write(e.path(), serde_json::to_vec_pretty(&v).expect("json")).expect("write");
    }
    let iso = now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    put(dir.path(), "logs/.bot_heartbeat", iso.as_bytes());
    dir
}

#[test]
fn intact_state_written_by_the_bot_starts_real_mode() {
    let root = sample();
    let portfolio: Value = serde_json::from_slice(
        &std::fs::read(root.path().join("logs/portfolio_futures.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(
        portfolio["open_positions_count"], 0,
        "the bot never maintains it"
    );
    let run = selfheal(root.path(), &["heal", "--mode", "real"]);
    assert!(run.findings("STATE_MISMATCH").is_empty(), "{}", run.json);
    assert_eq!(run.codes("CRITICAL"), Vec::<String>::new(), "{}", run.json);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["start_allowed"], true);
    assert_eq!(run.json["mode"], "real");
    assert_eq!(run.json["mode_source"], "flag");
}

#[test]
fn a_lost_open_position_is_state_mismatch() {
    let root = sample();
    let path = root.path().join(POSITIONS);
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    let open = doc["open_positions"]
        .as_array_mut()
        .expect("open positions");
    assert_eq!(open.len(), 6);
    let lost = open.remove(2);
    let margin = lost["margin_collateral"].as_f64().expect("margin");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let before = std::fs::read(&path).expect("read");

    let run = selfheal(root.path(), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let f = run.findings("STATE_MISMATCH");
    assert_eq!(f.len(), 1, "{}", run.json);
    assert_eq!(f[0]["level"], "CRITICAL");
    let used = f[0]["details"]["used_margin"].as_f64().expect("used");
    let sum = f[0]["details"]["margin_collateral_sum"]
        .as_f64()
        .expect("sum");
    assert!((used - sum - margin).abs() < 1e-6, "{}", f[0]);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "never repaired"
    );

    let paper = selfheal(root.path(), &["heal", "--mode", "paper"]);
    assert_eq!(paper.code, 0, "{}", paper.stderr);
    assert_eq!(paper.findings("STATE_MISMATCH").len(), 1);
}

#[test]
fn the_open_positions_count_switch_gives_the_old_comparison() {
    let root = sample();
    put(
        root.path(),
        "config/selfheal.json",
        br#"{"positions": {"compare_open_positions_count": true}}"#,
    );
    let run = selfheal(root.path(), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let f = run.findings("STATE_MISMATCH");
    assert_eq!(f.len(), 1, "{}", run.json);
    assert_eq!(f[0]["evidence"], "open_positions_count 0 vs 6 open");

    put(
        root.path(),
        "config/selfheal.json",
        br#"{"positions": {"compare_open_positions_count": true}, "detectors": {"STATE_MISMATCH": "high"}}"#,
    );
    let high = selfheal(root.path(), &["heal", "--mode", "real"]);
    assert_eq!(high.code, 0, "{}", high.stderr);
    assert_eq!(high.findings("STATE_MISMATCH")[0]["level"], "HIGH");

    put(
        root.path(),
        "config/selfheal.json",
        br#"{"positions": {"compare_open_positions_count": true}, "detectors": {"STATE_MISMATCH": "off"}}"#,
    );
    let off = selfheal(root.path(), &["heal", "--mode", "real"]);
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert!(off.findings("STATE_MISMATCH").is_empty(), "{}", off.json);
}
