//! Deployment slots: `<name>-<suffix>` siblings of a `<name>-current` link are slots for
//! every configured suffix (A/B and blue/green by default). Starting real mode in a slot
//! whose positions file is missing or empty while another slot holds open positions is the
//! critical SLOT_DIVERGENCE (HIGH in paper mode), cleared by `selfheal ack <id>` for exactly
//! what was seen; the other slot's file is only read.

use crate::support::procs::{put, selfheal, snapshot, tempdir, Run};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const POSITIONS: &str = "logs/positions_futures.json";

fn position(symbol: &str) -> Value {
    json!({
        "symbol": symbol, "direction": "LONG", "strategy": "trend",
        "entry_price": 100.5, "size": 1000.0, "leverage": 5, "margin_collateral": 200.0,
    })
}

/// Writes a consistent positions file and portfolio into `slot`.
fn state(slot: &Path, open: &[Value], closed: &[Value]) {
    let doc = json!({"open_positions": open, "closed_positions": closed});
    put(
        slot,
        POSITIONS,
        &serde_json::to_vec_pretty(&doc).expect("json"),
    );
    let margin = 200.0 * open.len() as f64;
    let pf =
        json!({"total_margin_allocated": 6000.0, "used_margin": margin, "open_positions_count": 0});
    put(
        slot,
        "logs/portfolio_futures.json",
        pf.to_string().as_bytes(),
    );
}

/// `<parent>/bot-blue` (empty) and `<parent>/bot-green` (one open position), with
/// `bot-current` naming `active`.
struct Deploy {
    dir: tempfile::TempDir,
}

impl Deploy {
    fn new(active: &str) -> Deploy {
        let d = Deploy { dir: tempdir() };
        std::fs::create_dir(d.slot("blue")).expect("mkdir");
        state(&d.slot("green"), &[position("BTCUSDT")], &[]);
        std::os::unix::fs::symlink(format!("bot-{active}"), d.dir.path().join("bot-current"))
            .expect("symlink");
        d
    }

    fn slot(&self, suffix: &str) -> PathBuf {
        self.dir.path().join(format!("bot-{suffix}"))
    }

    fn current(&self) -> PathBuf {
        self.dir.path().join("bot-current")
    }
}

fn levels(run: &Run, code: &str) -> Vec<String> {
    run.findings(code)
        .iter()
        .filter_map(|f| f["level"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn blue_green_siblings_are_slots() {
    let d = Deploy::new("green");
    let green = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(green.code, 0, "{}", green.json);
    assert_eq!(green.json["findings"], json!([]));
    // A link to a directory that is not one of the slots.
    std::fs::create_dir(d.dir.path().join("bot-purple")).expect("mkdir");
    std::fs::remove_file(d.current()).expect("rm");
    std::os::unix::fs::symlink("bot-purple", d.current()).expect("symlink");
    let run = selfheal(&d.slot("green"), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "{}", run.json);
    assert_eq!(levels(&run, "SLOT_INVALID"), ["CRITICAL"]);
}

#[test]
fn a_switch_to_an_empty_slot_beside_open_positions_blocks_real_mode() {
    let d = Deploy::new("blue");
    let green = snapshot(&d.slot("green"));
    let check = selfheal(&d.current(), &["check", "--mode", "real"]);
    assert_eq!(check.code, 4, "{}", check.json);
    assert_eq!(levels(&check, "SLOT_DIVERGENCE"), ["CRITICAL"]);
    assert!(
        !d.slot("blue").join("logs").exists(),
        "check writes nothing"
    );

    let real = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.json);
    assert_eq!(real.json["start_allowed"], false);
    let f = &real.findings("SLOT_DIVERGENCE")[0];
    assert_eq!(f["level"], "CRITICAL");
    assert_eq!(f["details"]["other_open_positions"], 1);
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("bot-green")),
        "{f}"
    );
    assert_eq!(
        snapshot(&d.slot("green")),
        green,
        "the other slot is only read"
    );

    let paper = selfheal(&d.current(), &["heal", "--mode", "paper"]);
    assert_eq!(paper.code, 0, "{}", paper.json);
    assert_eq!(levels(&paper, "SLOT_DIVERGENCE"), ["HIGH"]);
}

#[test]
fn ack_clears_exactly_what_it_acknowledged() {
    let d = Deploy::new("blue");
    let real = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.json);
    let txn = real.txn();
    let root = std::fs::canonicalize(d.slot("blue")).expect("canonical");
    let hint = format!("`selfheal --root {} ack {txn}`", root.display());
    let msg = real.findings("SLOT_DIVERGENCE")[0]["message"].to_string();
    assert!(msg.contains(&hint), "{msg}");

    let ack = selfheal(&d.current(), &["ack", &txn]);
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    assert_eq!(ack.json["codes"], json!(["SLOT_DIVERGENCE"]));
    assert_eq!(ack.json["findings"][0]["code"], "SLOT_DIVERGENCE");
    let again = selfheal(&d.current(), &["ack", &txn]);
    assert_eq!(again.code, 16, "nothing left: {}", again.stderr);
    let shown = selfheal(&d.current(), &["journal", "show", &ack.txn()]);
    assert!(
        shown.json.to_string().contains("SLOT_DIVERGENCE"),
        "{}",
        shown.json
    );

    let started = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(started.code, 0, "{}", started.json);
    assert!(started.findings("SLOT_DIVERGENCE").is_empty());

    // The ack, now in an older transaction file, still holds on a run its index serves
    // (the index is written by a repeating run once the journal directory is settled).
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let indexed = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(indexed.code, 0, "{}", indexed.json);
    let served = selfheal(&d.current(), &["-vv", "heal", "--mode", "real"]);
    assert!(
        served.stderr.contains("journal read from its index"),
        "{}",
        served.stderr
    );
    assert_eq!(served.code, 0, "{}", served.json);
    assert!(served.findings("SLOT_DIVERGENCE").is_empty());

    // The other slot changed: what was acknowledged no longer describes it.
    state(
        &d.slot("green"),
        &[position("BTCUSDT"), position("ETHUSDT")],
        &[],
    );
    let back = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(back.code, 4, "{}", back.json);
    assert_eq!(
        back.findings("SLOT_DIVERGENCE")[0]["details"]["other_open_positions"],
        2
    );
}

#[test]
fn no_divergence_without_open_positions_elsewhere_or_with_history_here() {
    let d = Deploy::new("blue");
    state(&d.slot("green"), &[], &[position("BTCUSDT")]);
    let run = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 0, "{}", run.json);
    assert!(run.findings("SLOT_DIVERGENCE").is_empty());

    let d = Deploy::new("blue");
    state(&d.slot("blue"), &[], &[position("ETHUSDT")]);
    let run = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 0, "{}", run.json);
    assert!(run.findings("SLOT_DIVERGENCE").is_empty());
}

#[test]
fn another_slots_file_is_never_followed() {
    let d = Deploy::new("blue");
    let elsewhere = tempdir();
    put(
        elsewhere.path(),
        "p.json",
        br#"{"open_positions": [], "closed_positions": []}"#,
    );
    let theirs = d.slot("green").join(POSITIONS);
    std::fs::remove_file(&theirs).expect("rm");
    std::os::unix::fs::symlink(elsewhere.path().join("p.json"), &theirs).expect("symlink");
    let run = selfheal(&d.current(), &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "may hold positions: {}", run.json);
    let f = &run.findings("SLOT_DIVERGENCE")[0];
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("not followed")),
        "{f}"
    );
}

#[test]
fn configured_suffixes_and_levels() {
    let dir = tempdir();
    let (v1, v2) = (dir.path().join("bot-v1"), dir.path().join("bot-v2"));
    std::fs::create_dir(&v1).expect("mkdir");
    state(&v2, &[position("BTCUSDT")], &[]);
    std::os::unix::fs::symlink("bot-v1", dir.path().join("bot-current")).expect("symlink");
    let none = selfheal(&v1, &["heal", "--mode", "real"]);
    assert_eq!(none.code, 0, "-v1 is no slot by default: {}", none.json);
    put(
        &v1,
        "config/selfheal.json",
        br#"{"slots": {"suffixes": ["v1", "v2"]}}"#,
    );
    let run = selfheal(&v1, &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "{}", run.json);
    assert_eq!(levels(&run, "SLOT_DIVERGENCE"), ["CRITICAL"]);
    put(
        &v1,
        "config/selfheal.json",
        br#"{"slots": {"suffixes": ["v1", "v2"]}, "detectors": {"SLOT_DIVERGENCE": "high"}}"#,
    );
    let high = selfheal(&v1, &["heal", "--mode", "real"]);
    assert_eq!(high.code, 0, "{}", high.json);
    assert_eq!(levels(&high, "SLOT_DIVERGENCE"), ["HIGH"]);
}
