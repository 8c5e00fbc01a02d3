//! No false positives: states a careful operator calls healthy give no finding at all,
//! including a large one (1,000 open and 100,000 closed positions) that must also stay fast.

use crate::support::bot::*;
use serde_json::json;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

#[test]
fn same_symbol_and_direction_with_another_strategy_is_no_conflict() {
    let bot = Bot::new();
    bot.write_state(
        &[
            position("BTC-USDT", "trend", "LONG"),
            position("BTC-USDT", "breakout", "LONG"),
            position("BTC-USDT", "trend", "SHORT"),
        ],
        &[position("BTC-USDT", "trend", "LONG")],
    );
    let out = bot.heal("real");
    assert_eq!(out.code, 0, "{}", out.json);
    assert_eq!(out.json["findings"], json!([]));
    assert!(!bot.path(ALERTS).exists());
}

#[test]
fn the_identity_is_configurable() {
    let bot = Bot::new();
    bot.write_state(
        &[
            position("BTC-USDT", "trend", "LONG"),
            position("BTC-USDT", "breakout", "LONG"),
        ],
        &[],
    );
    bot.write(
        "config/selfheal.json",
        r#"{"positions": {"identity": ["symbol", "direction"]}}"#,
    );
    let out = bot.heal("real");
    assert_eq!(out.code, 4);
    assert_eq!(out.codes("CRITICAL"), vec!["POSITION_CONFLICT".to_string()]);
}

#[test]
fn filled_positions_matching_their_order_and_lenient_fields_are_fine() {
    let bot = Bot::new();
    let mut a = position("BTC-USDT", "trend", "long");
    a["status"] = json!("filled");
    a["order_size"] = json!(1000.0);
    let mut b = position("ETH-USDT", "trend", "Short");
    b["order_status"] = json!("FILLED");
    b["order"] = json!({"amount": "1000", "status": "filled"});
    let mut c = position("SOL-USDT", "trend", "LONG");
    c["status"] = json!("open");
    c["order_size"] = json!(5.0);
    bot.write_state(&[a, b, c], &[]);
    let out = bot.heal("real");
    assert_eq!(out.code, 0, "{}", out.json);
    assert_eq!(out.json["findings"], json!([]));
}

/// Writes the positions file as text directly (fast, even in a debug build).
fn write_large(bot: &Bot, open: usize, closed: usize) -> f64 {
    let mut text = String::with_capacity(300 * (open + closed));
    text.push_str("{\n  \"open_positions\": [\n");
    for i in 0..open {
        let sep = if i + 1 < open { "," } else { "" };
        let _ = writeln!(
            text,
            "    {{\"symbol\": \"SYM{i}-USDT\", \"direction\": \"{}\", \"strategy\": \"s{}\", \"entry_price\": {}.5, \"size\": 250.0, \"leverage\": 5, \"margin_collateral\": 50.0, \"opened_at\": \"2026-11-27T10:00:00-07:00\", \"order_id\": \"o{i}\"}}{sep}",
            if i % 2 == 0 { "LONG" } else { "SHORT" },
            i % 7,
            100 + i
        );
    }
    text.push_str("  ],\n  \"closed_positions\": [\n");
    for i in 0..closed {
        let sep = if i + 1 < closed { "," } else { "" };
        let _ = writeln!(
            text,
            "    {{\"symbol\": \"SYM{}-USDT\", \"direction\": \"LONG\", \"strategy\": \"s1\", \"entry_price\": 101.5, \"size\": 250.0, \"leverage\": 5, \"margin_collateral\": 50.0, \"exit_price\": 102.0, \"closed_at\": \"2026-11-27T11:00:00-07:00\", \"net_pnl\": 1.2, \"status\": \"filled\", \"order_size\": 250.0}}{sep}",
            i % 50
        );
    }
    text.push_str("  ],\n  \"created_at\": \"2026-11-01T10:00:00\"\n}\n");
    bot.write(POSITIONS, text);
    50.0 * open as f64
}

#[test]
fn a_large_healthy_state_gives_no_finding() {
    let bot = Bot::new();
    let margin = write_large(&bot, 1_000, 100_000);
    bot.write_portfolio(1_000, margin);
    let before = bot.state();
    let started = Instant::now();
    let out = bot.heal("real");
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["findings"], json!([]));
    assert_eq!(out.json["health"]["score"], 100);
    assert_eq!(bot.state(), before);
    assert!(!bot.path(ALERTS).exists());
    assert!(took < Duration::from_secs(20), "heal took {took:?}");
}
