//! The library API a Rust bot calls: `selfheal::heal` gives the same decision as the CLI,
//! and the read-only validators describe the state and the deployment slot without
//! changing anything.

use crate::support::bot::*;
use selfheal::{Mode, Options};
use serde_json::json;

fn opts(bot: &Bot, mode: Mode) -> Options {
    Options {
        root: bot.root.clone(),
        mode: Some(mode),
        ..Options::default()
    }
}

#[test]
fn heal_through_the_library_decides_like_the_cli() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
    let report = selfheal::heal(&opts(&bot, Mode::Real)).expect("heal");
    assert!(!report.start_allowed);
    assert!(report.transaction.is_some());
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["POSITION_CONFLICT"]);
    assert!(report
        .findings
        .iter()
        .all(|f| f.level == selfheal::Level::Critical));
    let paper = selfheal::heal(&opts(&bot, Mode::Paper)).expect("heal");
    assert!(paper.start_allowed);
    assert_eq!(paper.alerts_suppressed, 1);

    let before = bot.everything();
    let check = selfheal::check(&opts(&bot, Mode::Real)).expect("check");
    assert!(!check.start_allowed && check.dry_run);
    assert_eq!(bot.everything(), before);
}

#[test]
fn trading_mode_from_the_environment_value() {
    let bot = Bot::new();
    let a = position("BTC-USDT", "trend", "LONG");
    bot.write_state(&[a.clone(), a], &[]);
    let o = Options {
        root: bot.root.clone(),
        env: selfheal::Environment::from_vars([("TRADING_MODE", "live")]),
        ..Options::default()
    };
    let report = selfheal::heal(&o).expect("heal");
    assert_eq!(report.mode, Mode::Real);
    assert_eq!(report.mode_source, selfheal::ModeSource::Env);
    assert!(!report.start_allowed);
}

#[test]
fn validate_startup_state_describes_without_changing() {
    let bot = Bot::new();
    bot.write_state(&[position("BTC-USDT", "trend", "LONG")], &[]);
    let v = selfheal::validate_startup_state(&opts(&bot, Mode::Real)).expect("validate");
    assert!(v.valid, "{v:?}");
    let pos = v
        .files
        .iter()
        .find(|f| f.path == POSITIONS)
        .expect("positions");
    assert_eq!(
        (pos.state, pos.open_positions, pos.closed_positions),
        ("ok", Some(1), Some(0))
    );

    bot.write(POSITIONS, "{\"open_positions\": [");
    std::fs::remove_file(bot.path(PORTFOLIO)).expect("remove");
    std::fs::remove_dir(bot.path("feature_store")).expect("rmdir");
    let before = bot.everything();
    let v = selfheal::validate_startup_state(&opts(&bot, Mode::Real)).expect("validate");
    assert!(!v.valid);
    let states: Vec<(&str, &str)> = v.files.iter().map(|f| (f.path.as_str(), f.state)).collect();
    assert_eq!(
        states,
        [
            (POSITIONS, "corrupt"),
            (PORTFOLIO, "missing"),
            ("logs/trades_futures.json", "ok")
        ]
    );
    assert_eq!(v.issues.len(), 1, "{:?}", v.issues);
    assert_eq!(v.missing_directories, ["feature_store"]);
    assert_eq!(bot.everything(), before);
}

#[test]
fn validate_startup_state_flags_writable_state_files() {
    use std::os::unix::fs::PermissionsExt;
    let bot = Bot::new();
    let perms = std::fs::Permissions::from_mode(0o666);
    std::fs::set_permissions(bot.path(PORTFOLIO), perms).expect("chmod");
    let v = selfheal::validate_startup_state(&opts(&bot, Mode::Real)).expect("validate");
    assert!(!v.valid);
    assert!(v.issues[0].contains("world-writable"), "{:?}", v.issues);
}

#[test]
fn validate_systemd_slot_follows_the_current_link() {
    let bot = Bot::named("bot-A");
    let parent = bot.dir.path();
    std::fs::create_dir(parent.join("bot-B")).expect("mkdir");
    let none = selfheal::validate_systemd_slot(&opts(&bot, Mode::Real)).expect("validate");
    assert!(!none.valid, "{none:?}");
    assert_eq!(none.link, Some(selfheal::LinkState::Missing));

    std::os::unix::fs::symlink("bot-A", parent.join("bot-current")).expect("symlink");
    let v = selfheal::validate_systemd_slot(&opts(&bot, Mode::Real)).expect("validate");
    assert!(v.valid && v.active, "{v:?}");
    assert_eq!(
        serde_json::to_value(&v.link).expect("json")["state"],
        json!("active")
    );

    let b = Options {
        root: parent.join("bot-B"),
        ..opts(&bot, Mode::Real)
    };
    let inactive = selfheal::validate_systemd_slot(&b).expect("validate");
    assert!(!inactive.active);
    assert_eq!(inactive.issues.len(), 1, "{inactive:?}");
    assert!(inactive.issues[0].contains("lacks its state"));
}

#[test]
fn a_plain_directory_is_not_a_slot() {
    let bot = Bot::named("data-A");
    let v = selfheal::validate_systemd_slot(&opts(&bot, Mode::Real)).expect("validate");
    assert!(v.valid && v.slot.is_none(), "{v:?}");
    let out = bot.heal("real");
    assert_eq!(out.code, 0, "{}", out.json);
}
