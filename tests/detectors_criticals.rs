//! Every critical code has a fixture that triggers it. In real mode the heal exits 4 with
//! `start_allowed` false, appends the alert line (reference keys plus `ts` and
//! `transaction`) and leaves the state byte for byte as it was; `TRADING_MODE=real` without
//! `--mode` behaves the same, `check --mode real` sees the same and writes nothing at all;
//! paper mode exits 0.

use crate::support::bot::*;
use serde_json::{json, Value};

/// Runs the whole contract for one fixture; returns the real-mode outcome.
fn assert_blocks(bot: &Bot, code: &str) -> Run {
    let before = bot.state();
    let real = bot.heal("real");
    assert_eq!(real.code, 4, "{code}: {}", real.stderr);
    assert_eq!(real.json["start_allowed"], false, "{code}");
    assert_eq!(real.json["success"], false, "{code}");
    let prefix = format!("{code}: ");
    assert!(
        real.json["critical"].as_array().is_some_and(|c| c
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.starts_with(&prefix)))),
        "{code}: {}",
        real.json
    );
    let alerts = bot.alerts();
    let mine = alerts_of(&alerts, code);
    let alert = mine
        .first()
        .unwrap_or_else(|| panic!("{code}: no alert in {alerts:?}"));
    assert_alert_shape(alert);
    assert_eq!(alert["level"], "CRITICAL");
    assert_eq!(alert["action_required"], true);
    assert_eq!(alert["transaction"], real.json["transaction"], "{code}");
    assert_eq!(bot.state(), before, "{code}: the data changed");

    let env = bot.run(&["--json", "heal"], &[("TRADING_MODE", "real")]);
    assert_eq!((env.code, &env.json["mode"]), (4, &json!("real")), "{code}");
    assert_eq!(bot.state(), before, "{code}: the data changed");

    let all = bot.everything();
    let check = bot.run(&["--json", "check", "--mode", "real"], &[]);
    assert_eq!(check.code, 4, "{code}: {}", check.stderr);
    assert!(check.codes("CRITICAL").iter().any(|c| c == code), "{code}");
    assert_eq!(bot.everything(), all, "{code}: check wrote something");
    real
}

fn assert_paper_starts(bot: &Bot, code: &str) {
    let paper = bot.heal("paper");
    assert_eq!(paper.code, 0, "{code}: {}", paper.stderr);
    assert_eq!(paper.json["start_allowed"], true, "{code}");
}

fn two_open() -> Vec<Value> {
    vec![
        position("BTC-USDT", "trend", "LONG"),
        position("ETH-USDT", "trend", "SHORT"),
    ]
}

#[test]
fn state_mismatch_open_count_only_when_switched_on() {
    let bot = Bot::new();
    bot.write_positions(&two_open(), &[]);
    bot.write_portfolio(3, 400.0);
    let off = bot.heal("real");
    assert_eq!(
        (off.code, off.codes("CRITICAL")),
        (0, vec![]),
        "{}",
        off.json
    );
    bot.write(
        "config/selfheal.json",
        br#"{"positions": {"compare_open_positions_count": true}}"#,
    );
    assert_blocks(&bot, "STATE_MISMATCH");
    assert_paper_starts(&bot, "STATE_MISMATCH");
}

#[test]
fn state_mismatch_used_margin_beyond_tolerance() {
    let bot = Bot::new();
    bot.write_positions(&two_open(), &[]);
    bot.write_portfolio(2, 405.0);
    let real = assert_blocks(&bot, "STATE_MISMATCH");
    assert!(real.json["critical"]
        .to_string()
        .contains("used_margin 405"));
    assert_paper_starts(&bot, "STATE_MISMATCH");

    // Within the default tolerance (0.01): no finding.
    bot.write_portfolio(2, 400.005);
    let ok = bot.heal("real");
    assert_eq!((ok.code, ok.codes("CRITICAL")), (0, vec![]), "{}", ok.json);
}

#[test]
fn partial_fill() {
    let bot = Bot::new();
    let mut p = position("BTC-USDT", "trend", "LONG");
    p["status"] = json!("FILLED");
    p["order_size"] = json!(1500.0);
    bot.write_state(&[p], &[]);
    assert_blocks(&bot, "PARTIAL_FILL");
    assert_paper_starts(&bot, "PARTIAL_FILL");
}

#[test]
fn partial_fill_from_an_order_object() {
    let bot = Bot::new();
    let mut p = position("BTC-USDT", "trend", "LONG");
    p["order_status"] = json!("filled");
    p["order"] = json!({"id": "x1", "amount": "999.5"});
    bot.write_state(&[p], &[]);
    assert_blocks(&bot, "PARTIAL_FILL");
}

#[test]
fn position_conflict_same_identity() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    let mut b = position("BTC-USDT", "trend", "long");
    b["entry_price"] = json!(43000.0);
    bot.write_state(&[a, b], &[]);
    assert_blocks(&bot, "POSITION_CONFLICT");
    assert_paper_starts(&bot, "POSITION_CONFLICT");
}

#[test]
fn position_conflict_exact_same_record_twice() {
    let bot = Bot::new();
    let a = position("SOL-USDT", "breakout", "SHORT");
    bot.write_state(&[a.clone(), position("BTC-USDT", "trend", "LONG"), a], &[]);
    let real = assert_blocks(&bot, "POSITION_CONFLICT");
    assert!(real.json["critical"]
        .to_string()
        .contains("the exact same record appears more than once"));
    assert_paper_starts(&bot, "POSITION_CONFLICT");
}

#[test]
fn data_integrity_invalid_open_positions() {
    let cases: Vec<(&str, Value)> = vec![
        ("size", json!(0)),
        ("entry_price", json!(-1.5)),
        ("leverage", json!("5")),
        ("entry_price", json!("100.0")),
        ("direction", json!("UP")),
        ("symbol", Value::Null),
    ];
    for (field, value) in cases {
        let bot = Bot::new();
        let mut p = position("BTC-USDT", "trend", "LONG");
        p[field] = value.clone();
        bot.write_state(&[p], &[]);
        let real = assert_blocks(&bot, "DATA_INTEGRITY");
        assert!(
            real.json["critical"].to_string().contains(field),
            "{field}={value}: {}",
            real.json
        );
        assert_paper_starts(&bot, "DATA_INTEGRITY");
    }
    let bot = Bot::new();
    let mut p = position("BTC-USDT", "trend", "LONG");
    p.as_object_mut().map(|o| o.remove("leverage"));
    bot.write_state(&[p], &[]);
    assert_blocks(&bot, "DATA_INTEGRITY");
}

#[test]
fn data_integrity_positions_file_gone_in_real_mode() {
    let bot = Bot::new();
    bot.write_state(&two_open(), &[]);
    assert_eq!(bot.heal("real").code, 0);
    std::fs::remove_file(bot.path(POSITIONS)).expect("remove");
    let real = assert_blocks(&bot, "DATA_INTEGRITY");
    assert!(!bot.path(POSITIONS).exists(), "re-created in real mode");
    assert!(real.json["critical"].to_string().contains("is gone"));

    // Paper mode re-creates it, with a HIGH warning, and real mode starts again.
    let paper = bot.heal("paper");
    assert_eq!(paper.code, 0, "{}", paper.stderr);
    assert_eq!(paper.codes("HIGH"), vec!["DATA_INTEGRITY".to_string()]);
    assert!(bot.path(POSITIONS).exists());
    let alerts = bot.alerts();
    assert!(alerts_of(&alerts, "DATA_INTEGRITY")
        .iter()
        .any(|a| a["level"] == "HIGH"));
}

#[test]
fn gone_positions_file_is_recreated_in_real_mode_only_with_accept_loss() {
    let bot = Bot::new();
    std::fs::remove_file(bot.path(POSITIONS)).expect("remove");
    let out = bot.run(&["--json", "heal", "--mode", "real", "--accept-loss"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.codes("HIGH"), vec!["DATA_INTEGRITY".to_string()]);
    assert!(bot.path(POSITIONS).exists());
}

#[test]
fn a_positions_file_the_journal_never_knew_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("fresh");
    let out = Run::of(bin_on(&root).args(["--json", "heal", "--init", "--mode", "real"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(root.join(POSITIONS).exists());
    assert_eq!(out.json["findings"], json!([]));
}

#[test]
fn slot_invalid_link_to_an_unknown_directory() {
    let bot = Bot::named("bot-A");
    std::fs::create_dir(bot.dir.path().join("bot-B")).expect("mkdir");
    std::fs::create_dir(bot.dir.path().join("bot-old")).expect("mkdir");
    std::os::unix::fs::symlink("bot-old", bot.dir.path().join("bot-current")).expect("symlink");
    assert_blocks(&bot, "SLOT_INVALID");
    let paper = bot.heal("paper");
    assert_eq!(paper.code, 0);
    assert_eq!(paper.codes("HIGH"), vec!["SLOT_INVALID".to_string()]);
    assert_eq!(paper.codes("CRITICAL"), Vec::<String>::new());
}

#[test]
fn slot_invalid_dangling_link() {
    let bot = Bot::named("bot-B");
    std::os::unix::fs::symlink("bot-A", bot.dir.path().join("bot-current")).expect("symlink");
    assert_blocks(&bot, "SLOT_INVALID");
    assert_paper_starts(&bot, "SLOT_INVALID");
}

#[test]
fn slot_valid_when_current_names_it() {
    let bot = Bot::named("bot-A");
    std::fs::create_dir(bot.dir.path().join("bot-B")).expect("mkdir");
    std::os::unix::fs::symlink("bot-A", bot.dir.path().join("bot-current")).expect("symlink");
    let through_link = bot.dir.path().join("bot-current");
    let out = Run::of(bin_on(&through_link).args(["--json", "heal", "--mode", "real"]));
    assert_eq!(out.code, 0, "{}", out.json);
    assert_eq!(out.json["findings"], json!([]));
}

#[test]
fn slot_inactive_newer_is_a_high_warning() {
    let bot = Bot::named("bot-A");
    bot.write_state(&two_open(), &[]);
    let other = Bot {
        dir: tempfile::tempdir().expect("tempdir"),
        root: bot.dir.path().join("bot-B"),
    };
    other.init();
    std::os::unix::fs::symlink("bot-A", bot.dir.path().join("bot-current")).expect("symlink");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let f = std::fs::File::options()
        .write(true)
        .open(bot.path(POSITIONS))
        .expect("open");
    f.set_modified(old).expect("set mtime");
    let out = bot.heal("real");
    assert_eq!(out.code, 0, "{}", out.json);
    assert_eq!(out.codes("HIGH"), vec!["SLOT_INACTIVE_NEWER".to_string()]);
    let alerts = bot.alerts();
    let a = alerts_of(&alerts, "SLOT_INACTIVE_NEWER");
    assert_eq!(a.len(), 1);
    assert_alert_shape(a[0]);
    assert_eq!(a[0]["level"], "HIGH");
}

#[test]
fn journal_integrity() {
    let bot = Bot::new();
    assert_eq!(bot.heal("paper").code, 0);
    let journal = bot.path("logs/backups/journal");
    let mut files: Vec<_> = std::fs::read_dir(&journal)
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let first = files.first().expect("a journal file");
    let text = std::fs::read_to_string(first).expect("read");
    std::fs::write(first, text.replacen("\"heal\"", "\"HEAL\"", 1)).expect("write");
    let real = assert_blocks(&bot, "JOURNAL_INTEGRITY");
    assert_eq!(real.json["transaction"], Value::Null);
    assert_paper_starts(&bot, "JOURNAL_INTEGRITY");
}

#[test]
fn closed_position_defects_are_a_high_warning() {
    let bot = Bot::new();
    let mut c = closed("BTC-USDT", "trend", "LONG", 1);
    c["size"] = json!(-3);
    bot.write_state(&two_open(), &[c]);
    let out = bot.heal("real");
    assert_eq!(out.code, 0, "{}", out.json);
    assert_eq!(out.codes("HIGH"), vec!["DATA_INTEGRITY".to_string()]);
    let alerts = bot.alerts();
    assert_eq!(alerts_of(&alerts, "DATA_INTEGRITY")[0]["level"], "HIGH");
}
