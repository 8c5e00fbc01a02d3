//! The integration examples work as documented: `examples/run.py` starts the dummy engine on
//! a healthy root and refuses on a critical one in real mode (paper always starts);
//! `examples/tradingbot.service` is a valid unit whose `ExecStartPre=` gates the bot with
//! `selfheal heal --mode real` (checked with `systemd-analyze verify` when it is installed,
//! and always by parsing it).

use crate::detect_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn run_py(bot: &Bot, trading_mode: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(example("run.py")).current_dir(&bot.root);
    let mut env = vec![("SELFHEAL_BIN", BIN)];
    if let Some(m) = trading_mode {
        env.push(("TRADING_MODE", m));
    }
    cmd.env_remove("TRADING_MODE").env_remove("SELFHEAL_ROOT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("python3 runs (it is required by these tests)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn critical_bot() -> Bot {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
    bot
}

#[test]
fn run_py_starts_the_engine_on_a_healthy_root() {
    let bot = Bot::new();
    bot.write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    let (code, out) = run_py(&bot, Some("real"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("🚀 Starting trading engine"), "{out}");
    assert!(bot.path("engine.started").exists());
}

#[test]
fn run_py_refuses_a_critical_root_in_real_mode() {
    for mode in ["real", "live"] {
        let bot = critical_bot();
        let (code, out) = run_py(&bot, Some(mode));
        assert_eq!(code, 4, "{out}");
        assert!(
            out.contains("⛔ Trading engine NOT started: POSITION_CONFLICT"),
            "{out}"
        );
        assert!(out.contains("🚨 [CRITICAL] POSITION_CONFLICT"), "{out}");
        assert!(!bot.path("engine.started").exists());
    }
}

#[test]
fn run_py_starts_a_critical_root_in_paper_mode() {
    for mode in [Some("paper"), None] {
        let bot = critical_bot();
        let (code, out) = run_py(&bot, mode);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("🚀 Starting trading engine"), "{out}");
        assert!(bot.path("engine.started").exists());
    }
}

#[test]
fn run_py_refuses_in_real_mode_when_selfheal_cannot_decide() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-root");
    let mut cmd = Command::new("python3");
    cmd.arg(example("run.py"))
        .env("SELFHEAL_BIN", BIN)
        .env("SELFHEAL_ROOT", &missing)
        .env("TRADING_MODE", "real");
    let out = cmd.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("⛔ Trading engine NOT started"), "{text}");
}

/// `[Section]` -> `Key=Value` lines (comments and blanks dropped).
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not Key=Value: {raw}", n + 1));
        assert!(!section.is_empty(), "line {}: key outside a section", n + 1);
        out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    out
}

const KNOWN_KEYS: &[(&str, &[&str])] = &[
    ("Unit", &["Description", "Wants", "After"]),
    (
        "Service",
        &[
            "Type",
            "User",
            "WorkingDirectory",
            "EnvironmentFile",
            "Environment",
            "ExecStartPre",
            "ExecStart",
            "Restart",
            "RestartSec",
            "TimeoutStartSec",
        ],
    ),
    ("Install", &["WantedBy"]),
];

#[test]
fn the_systemd_unit_gates_the_bot() {
    let text = std::fs::read_to_string(example("tradingbot.service")).expect("unit");
    let entries = parse_unit(&text);
    for (section, key, _) in &entries {
        let known = KNOWN_KEYS
            .iter()
            .find(|(s, _)| s == section)
            .unwrap_or_else(|| panic!("unknown section [{section}]"));
        assert!(
            known.1.contains(&key.as_str()),
            "unknown key {section}.{key}"
        );
    }
    let get = |k: &str| {
        entries
            .iter()
            .find(|(_, key, _)| key == k)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    };
    let pre = get("ExecStartPre");
    assert!(pre.starts_with('/'), "{pre}");
    assert!(pre.ends_with("heal --mode real"), "{pre}");
    assert!(get("ExecStart").starts_with('/'));
    assert!(text.contains("ExecStartPre=-/usr/local/bin/selfheal"));
    assert!(text.contains("heal --mode paper"));
    verify_with_systemd(&text);
}

/// Runs `systemd-analyze verify` on the unit with its paths pointed at real files, when
/// systemd-analyze is installed; it must print nothing and succeed.
fn verify_with_systemd(text: &str) {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit was checked by parsing only");
        return;
    };
    assert!(probe.status.success());
    let bot = Bot::new();
    let root = bot.root.to_string_lossy().into_owned();
    let python = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .expect("sh")
            .stdout,
    )
    .expect("utf-8");
    let unit = text
        .replace("/usr/local/bin/selfheal", BIN)
        .replace("/home/trader/trading-bot-current", &root)
        .replace("/usr/bin/python3", python.trim())
        .replace("User=trader", "User=root");
    let path = bot.dir.path().join("tradingbot.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let relevant: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("tradingbot.service"))
        .collect();
    assert!(out.status.success() && relevant.is_empty(), "{said}");
}
