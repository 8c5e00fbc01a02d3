//! The operator alert log: a bot restarting every few seconds must not flood it (the same
//! finding is appended once per window and counted), no control character copied from a
//! state file reaches the log or the terminal, the log is created 0640 whatever the umask,
//! and a torn last line neither breaks the heal nor swallows the next alert.

use crate::support::bot::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn conflicting(bot: &Bot) {
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
}

fn journal_text(bot: &Bot) -> String {
    let dir = bot.path("logs/backups/journal");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("journal")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect()
}

#[test]
fn the_same_finding_is_appended_once_per_window_and_counted() {
    let bot = Bot::new();
    conflicting(&bot);
    let first = bot.heal("real");
    assert_eq!(first.json["alerts_suppressed"], 0);
    let n = bot.alerts().len();
    assert!(n >= 1);
    for _ in 0..3 {
        let again = bot.heal("real");
        assert_eq!(again.code, 4);
        assert_eq!(again.json["alerts_suppressed"], json!(n));
        // Still printed for the operator every time.
        let human = bot.run(&["heal", "--mode", "real"], &[]);
        assert!(human.stderr.contains("🚨 [CRITICAL] POSITION_CONFLICT: "));
    }
    assert_eq!(bot.alerts().len(), n, "appended again within the window");
    // The runs that decided the same wrote no transaction, and are still counted (the
    // bot's setup heal is the first run); the one transaction of the blocked runs is the
    // first, which suppressed nothing.
    assert!(journal_text(&bot).contains("\"alerts_suppressed\":0"));
    let stats = bot.run(&["--json", "stats"], &[]).json;
    assert_eq!(stats["runs"], 8, "{stats}");
    assert_eq!(stats["transactions"], 2, "{stats}");
    assert_eq!(stats["criticals"]["POSITION_CONFLICT"], 7, "{stats}");
}

#[test]
fn a_finding_is_appended_again_after_the_window() {
    let bot = Bot::new();
    conflicting(&bot);
    bot.heal("real");
    let lines = bot.alerts();
    let aged: String = lines
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a["timestamp"] = json!(a["timestamp"].as_f64().unwrap_or(0.0) - 7200.0);
            format!("{a}\n")
        })
        .collect();
    bot.write(ALERTS, aged);
    let out = bot.heal("real");
    assert_eq!(out.json["alerts_suppressed"], 0);
    assert_eq!(bot.alerts().len(), 2 * lines.len());
}

#[test]
fn the_window_is_configurable() {
    let bot = Bot::new();
    conflicting(&bot);
    bot.write(
        "config/selfheal.json",
        r#"{"alerts": {"dedupe_window": "0s"}}"#,
    );
    bot.heal("real");
    let n = bot.alerts().len();
    bot.heal("real");
    assert_eq!(bot.alerts().len(), 2 * n);
}

#[test]
fn a_different_finding_is_not_suppressed() {
    let bot = Bot::new();
    conflicting(&bot);
    bot.heal("real");
    let n = bot.alerts().len();
    let b = position("ETH-USDT", "trend", "SHORT");
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a, b.clone(), b], &[]);
    let out = bot.heal("real");
    assert_eq!(out.json["alerts_suppressed"], 0);
    assert_eq!(bot.alerts().len(), 2 * n);
}

#[test]
fn no_control_character_reaches_the_log_or_the_terminal() {
    let bot = Bot::new();
    let nasty = "BTC\u{1b}[2J\u{1b}]0;pwned\u{7}\n\r\u{7f}\u{9b}31m\u{0}";
    let a = position(nasty, "trend\u{1b}[5m", "LONG");
    let mut bad = position(nasty, "x", "\u{1b}[31mUP");
    bad["size"] = json!("\u{1b}100");
    bot.write_state(&[a.clone(), a, bad], &[]);
    let human = bot.run(&["heal", "--mode", "real"], &[]);
    assert_eq!(human.code, 4);
    let is_bad = |c: char| c.is_control() && c != '\n';
    assert!(
        !human.stderr.chars().any(is_bad),
        "terminal: {:?}",
        human.stderr
    );
    let log = std::fs::read_to_string(bot.path(ALERTS)).expect("log");
    assert!(!log.chars().any(is_bad), "log: {log:?}");
    assert!(log.lines().count() >= 2);
    assert!(log.contains("\\\\u{1b}[2J"), "escaped visibly: {log}");
    let json = bot.heal("real");
    assert!(!json.json.to_string().chars().any(is_bad));
}

#[test]
fn the_log_is_created_0640_whatever_the_umask() {
    let bot = Bot::new();
    conflicting(&bot);
    let mut cmd = std::process::Command::new("sh");
    clean(&mut cmd)
        .arg("-c")
        .arg("umask 077; exec \"$0\" --root \"$1\" heal --mode real")
        .arg(BIN)
        .arg(&bot.root);
    let out = Run::of(&mut cmd);
    assert_eq!(out.code, 4, "{}", out.stderr);
    let mode = std::fs::metadata(bot.path(ALERTS))
        .expect("alert log")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn a_torn_last_line_is_tolerated() {
    let bot = Bot::new();
    conflicting(&bot);
    bot.heal("real");
    let mut log = std::fs::read(bot.path(ALERTS)).expect("log");
    let n = log.iter().filter(|&&b| b == b'\n').count();
    log.extend_from_slice(b"garbage\x00\xff\n{\"level\":\"CRITICAL\",\"category\":\"POSITION_CO");
    bot.write(ALERTS, &log);
    let out = bot.heal("real");
    assert_eq!(out.code, 4);
    assert_eq!(out.json["alerts_suppressed"], json!(n));
    bot.write(
        "config/selfheal.json",
        r#"{"alerts": {"dedupe_window": "0s"}}"#,
    );
    bot.heal("real");
    let text = std::fs::read(bot.path(ALERTS)).expect("log");
    let last: Vec<&[u8]> = text.split(|&b| b == b'\n').rev().skip(1).take(n).collect();
    for line in last {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a whole line");
        assert_alert_shape(&v);
    }
}

#[test]
fn check_and_dry_run_append_nothing() {
    let bot = Bot::new();
    conflicting(&bot);
    let before = bot.everything();
    assert_eq!(bot.run(&["--json", "check", "--mode", "real"], &[]).code, 4);
    let dry = bot.run(&["--json", "heal", "--mode", "real", "--dry-run"], &[]);
    assert_eq!(dry.code, 4);
    assert_eq!(bot.everything(), before);
    assert!(!bot.path(ALERTS).exists());
}
