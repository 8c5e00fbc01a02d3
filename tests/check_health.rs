//! The health score as the JSON report shows it: every documented check is listed with its
//! penalty, each failing check moves the score by its documented weight, and a score under
//! 50 (or a critical status) blocks real mode while paper mode still starts.

use crate::support::bot::*;
use serde_json::{json, Value};

const CHECKS: [&str; 8] = [
    "critical_findings",
    "failed_heals",
    "disk_space",
    "writable",
    "heartbeats",
    "journal_integrity",
    "clock",
    "salvage_losses",
];

fn penalties(out: &Run) -> Vec<(String, u64)> {
    out.json["health"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["penalty"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

fn penalty(out: &Run, name: &str) -> u64 {
    penalties(out)
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(u64::MAX, |(_, p)| p)
}

fn assert_consistent(out: &Run) {
    let names: Vec<String> = penalties(out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, CHECKS);
    let sum: u64 = penalties(out).iter().map(|(_, p)| p).sum();
    let score = out.json["health"]["score"].as_u64().expect("score");
    assert_eq!(score, 100u64.saturating_sub(sum), "{}", out.json["health"]);
    for c in out.json["health"]["checks"].as_array().expect("checks") {
        assert_eq!(c["ok"], json!(c["penalty"] == 0), "{c}");
        assert!(c["detail"].is_string());
    }
}

#[test]
fn a_healthy_root_scores_100_and_lists_every_check() {
    let bot = Bot::new();
    bot.write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    let out = bot.heal("real");
    assert_eq!(out.code, 0);
    assert_consistent(&out);
    assert_eq!(out.json["health"]["score"], 100);
    assert_eq!(out.json["health"]["status"], "healthy");
}

#[test]
fn one_critical_finding_costs_50_and_blocks_real_mode() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
    let out = bot.heal("real");
    assert_consistent(&out);
    assert_eq!(penalty(&out, "critical_findings"), 50);
    assert_eq!(out.json["health"]["score"], 50);
    assert_eq!(out.json["health"]["status"], "critical");
    assert_eq!((out.code, &out.json["start_allowed"]), (4, &json!(false)));
    let paper = bot.heal("paper");
    assert_eq!(
        (paper.code, &paper.json["start_allowed"]),
        (0, &json!(true))
    );
}

#[test]
fn two_critical_findings_cost_100() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_positions(&[a.clone(), a], &[]);
    bot.write_portfolio(2, 405.0);
    let out = bot.heal("real");
    assert_consistent(&out);
    assert_eq!(penalty(&out, "critical_findings"), 100);
    assert_eq!(out.json["health"]["score"], 0);
}

#[test]
fn a_failed_heal_costs_15_and_blocks_real_mode() {
    let bot = Bot::new();
    std::fs::remove_file(bot.path(PORTFOLIO)).expect("remove");
    std::os::unix::fs::symlink("/etc/hostname", bot.path(PORTFOLIO)).expect("symlink");
    let out = bot.heal("real");
    assert_consistent(&out);
    assert_eq!(penalty(&out, "failed_heals"), 15);
    assert_eq!(out.json["health"]["score"], 85);
    assert_eq!(out.json["health"]["status"], "degraded");
    assert_eq!((out.code, &out.json["start_allowed"]), (4, &json!(false)));
    assert_eq!(bot.heal("paper").code, 0);
}

#[test]
fn a_journal_that_fails_verification_costs_50_more() {
    let bot = Bot::new();
    let journal = bot.path("logs/backups/journal");
    let file = std::fs::read_dir(&journal)
        .expect("journal")
        .flatten()
        .map(|e| e.path())
        .min()
        .expect("a journal file");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text.replacen("\"heal\"", "\"HEAL\"", 1)).expect("write");
    for out in [
        bot.heal("real"),
        bot.run(&["--json", "check", "--mode", "real"], &[]),
    ] {
        assert_consistent(&out);
        assert_eq!(penalty(&out, "journal_integrity"), 50);
        assert_eq!(penalty(&out, "critical_findings"), 50);
        assert_eq!(out.json["health"]["score"], 0);
        assert_eq!(out.code, 4);
    }
}

#[test]
fn below_50_blocks_real_mode_but_not_paper() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_positions(&[a.clone(), a], &[]);
    bot.write_portfolio(5, 400.0);
    std::fs::remove_file(bot.path(PORTFOLIO)).expect("remove");
    std::os::unix::fs::symlink("/etc/hostname", bot.path(PORTFOLIO)).expect("symlink");
    let real = bot.heal("real");
    let score = real.json["health"]["score"].as_u64().expect("score");
    assert!(score < 50, "{}", real.json["health"]);
    assert_eq!(real.code, 4);
    let paper = bot.heal("paper");
    assert_eq!(paper.code, 0);
    assert_eq!(paper.json["start_allowed"], Value::Bool(true));
}
