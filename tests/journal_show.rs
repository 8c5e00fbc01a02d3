//! `journal show`: every operation with its reason, before/after SHA-256 and sizes, and for
//! a JSON file a diff by record identity (positions: symbol, strategy, direction in any
//! case), with the records verbatim; a side whose bytes are gone is said to be unavailable.

use crate::support::{code, data_of, stderr, Fixture};
use serde_json::Value;

const POSITIONS: &str = "logs/positions_futures.json";

/// Open positions, missing `closed_positions` (a heal adds it).
const P1: &str = r#"{"created_at": "2026-01-01", "open_positions": [
  {"symbol": "BTCUSDT", "strategy": "trend", "direction": "long", "entry_price": 50000, "size": 1, "leverage": 5},
  {"symbol": "ETHUSDT", "strategy": "mr", "direction": "SHORT", "entry_price": 3000, "size": 2, "leverage": 3}
]}
"#;

/// What an operator made of it afterwards: BTC resized (direction in another case), ETH
/// closed, SOL opened.
const P2: &str = r#"{"created_at": "2026-01-01", "open_positions": [
  {"symbol": "BTCUSDT", "strategy": "trend", "direction": "LONG", "entry_price": 50000, "size": 3, "leverage": 5},
  {"symbol": "SOLUSDT", "strategy": "trend", "direction": "LONG", "entry_price": 150, "size": 10, "leverage": 2}
], "closed_positions": [
  {"symbol": "ETHUSDT", "strategy": "mr", "direction": "SHORT", "entry_price": 3000, "size": 2, "leverage": 3}
]}
"#;

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn show(f: &Fixture, id: u64) -> Value {
    let (rc, v) = f.json(&["journal", "show", &id.to_string()]);
    assert_eq!(rc, 0, "{v}");
    v
}

fn op_on(v: &Value, path: &str) -> Value {
    v["operations"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["path"] == path).cloned())
        .unwrap_or_else(|| panic!("no operation on {path}: {v}"))
}

fn heal(f: &Fixture) -> u64 {
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v["transaction"].as_u64().expect("transaction")
}

fn records(a: &Value, side: &str) -> Vec<String> {
    a[side]
        .as_array()
        .expect(side)
        .iter()
        .map(|r| {
            r["record"]["symbol"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn show_lists_checksums_sizes_and_the_keys_a_heal_added() {
    let f = Fixture::with_root();
    heal(&f);
    f.write(POSITIONS, P1);
    let id = heal(&f);
    let healed = f.read(POSITIONS);
    let op = op_on(&show(&f, id), POSITIONS);
    assert_eq!(op["heal"], "missing_keys");
    assert!(op["reason"].as_str().is_some_and(|r| !r.is_empty()), "{op}");
    assert_eq!(op["before"]["sha256"], sha(P1.as_bytes()));
    assert_eq!(op["before"]["size"], P1.len());
    assert_eq!(op["after"]["sha256"], sha(&healed));
    assert_eq!(op["after"]["size"], healed.len());
    let diff = &op["diff"];
    assert_eq!(diff["status"], "diff", "{op}");
    assert_eq!(diff["keys_added"][0]["key"], "closed_positions");
    assert!(
        diff["arrays"].as_array().is_some_and(Vec::is_empty),
        "{diff}"
    );
    let out = f.run(&["journal", "show", &id.to_string()]);
    assert_eq!(code(&out), 0);
    let text = data_of(&out);
    for want in [
        "missing_keys",
        &sha(P1.as_bytes()),
        &format!("{} bytes", P1.len()),
        "+ closed_positions: []",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

/// A heal that added `closed_positions` to `P1`, then the file changed by the operator
/// to `P2` and that heal rolled back with `--force` (as the next transaction).
fn healed_then_forced_back() -> (Fixture, u64) {
    let f = Fixture::with_root();
    heal(&f);
    f.write(POSITIONS, P1);
    let h = heal(&f);
    f.write(POSITIONS, P2);
    let out = f.run(&["rollback", &h.to_string(), "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (f, h)
}

#[test]
fn positions_are_diffed_by_identity_with_records_verbatim() {
    let (f, h) = healed_then_forced_back();
    let r = h + 1;
    let op = op_on(&show(&f, r), POSITIONS);
    let diff = &op["diff"];
    assert_eq!(diff["status"], "diff", "{op}");
    assert_eq!(diff["keys_removed"][0]["key"], "closed_positions", "{diff}");
    let a = &diff["arrays"][0];
    assert_eq!(
        (a["key"].as_str(), a["matched_by"].as_str()),
        (Some("open_positions"), Some("identity"))
    );
    assert_eq!(
        records(a, "added"),
        ["ETHUSDT"],
        "back in the file rolled back to"
    );
    assert_eq!(records(a, "removed"), ["SOLUSDT"]);
    assert_eq!(a["unchanged"], 0);
    let changed = &a["changed"][0];
    assert_eq!(changed["identity"], "BTCUSDT / trend / LONG");
    assert_eq!(changed["fields"], serde_json::json!(["direction", "size"]));
    assert_eq!(changed["before"]["size"], 3);
    assert_eq!(changed["after"]["size"], 1);
    assert_eq!(a["added"][0]["identity"], "ETHUSDT / mr / SHORT");
    let text = data_of(&f.run(&["journal", "show", &r.to_string()]));
    for want in [
        "open_positions (by identity): 1 added, 1 removed, 1 changed, 0 unchanged",
        "~ BTCUSDT / trend / LONG: direction \"LONG\" -> \"long\", size 3 -> 1",
        "- SOLUSDT / trend / LONG: {",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

#[test]
fn a_side_no_longer_stored_is_reported_unavailable() {
    let (f, h) = healed_then_forced_back();
    // The heal's after-content was overwritten by the operator and never backed up.
    let op = op_on(&show(&f, h), POSITIONS);
    assert_eq!(op["diff"]["status"], "unavailable", "{op}");
    let why = op["diff"]["why"].as_str().unwrap_or_default();
    assert!(why.contains("after content no longer available"), "{why}");
    // The rollback's after-content is the current file; once that changes too, the
    // content-addressed store still holds it (the heal backed it up as its before).
    f.write(POSITIONS, "{}");
    let op = op_on(&show(&f, h + 1), POSITIONS);
    assert_eq!(op["diff"]["status"], "diff", "{op}");
}
