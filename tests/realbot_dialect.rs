//! The reference bot's JSON dialect on a real state root: Python's `json` writes `NaN`,
//! `Infinity` and `-Infinity` in unsanitised signal fields, and a positions file holding
//! them is valid state, never damage. The bot's own sample root gets the bot's own
//! positions file with those values (`tests/fixtures/realbot/`); the sample's other files
//! may give other findings, so the tests assert on the positions file only.

use crate::support::{code, copy_tree, stderr, stdout, Fixture};
use std::path::Path;

const POSITIONS: &str = "logs/positions_futures.json";

fn fixture_path(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realbot")
        .join(rel)
}

/// The positions file with one `NaN` and two infinities, as the bot wrote it.
fn nan_file() -> Vec<u8> {
    std::fs::read(fixture_path("positions_futures.with-nan.json")).expect("fixture")
}

/// The bot's sample root with `positions` as its positions file.
fn sample_with(positions: &[u8]) -> Fixture {
    let f = Fixture::new();
    copy_tree(&fixture_path("sample"), &f.root());
    f.write(POSITIONS, positions);
    f
}

/// Every record of a pretty-printed positions file (the bot indents records by 4 spaces),
/// as its exact text, with whether it closes before the end of `text`.
fn records(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut base = 0;
    while let Some(open) = rest.find("\n    {") {
        let start = base + open + 1;
        let body = &text[start..];
        match body.find("\n    }") {
            Some(close) => {
                let end = start + close + "\n    }".len();
                out.push((text[start..end].to_string(), true));
                base = end;
            }
            None => {
                out.push((body.to_string(), false));
                break;
            }
        }
        rest = &text[base..];
    }
    out
}

fn findings_about(v: &serde_json::Value, path: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["path"] == path || f["message"].as_str().unwrap_or("").contains(path))
        .map(|f| format!("{} {} {}", f["code"], f["level"], f["message"]))
        .collect()
}

fn actions_on(v: &serde_json::Value, path: &str) -> Vec<String> {
    v["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["path"] == path)
        .map(|a| a["message"].to_string())
        .collect()
}

#[test]
fn fixture_holds_the_three_tokens() {
    let text = String::from_utf8(nan_file()).expect("utf8");
    for token in [": NaN", ": Infinity", ": -Infinity"] {
        assert!(text.contains(token), "{token}");
    }
}

#[test]
fn nan_positions_file_is_left_intact_in_paper_and_real_mode() {
    let original = nan_file();
    for mode in ["paper", "real"] {
        for command in ["check", "heal"] {
            let f = sample_with(&original);
            let (_, v) = f.json(&[command, "--mode", mode]);
            assert_eq!(
                f.read(POSITIONS),
                original,
                "{command} {mode}: every byte kept"
            );
            assert_eq!(
                actions_on(&v, POSITIONS),
                Vec::<String>::new(),
                "{command} {mode}: no operation on the positions file"
            );
            let about = findings_about(&v, POSITIONS);
            assert!(
                !about.iter().any(|f| f.contains("DATA_INTEGRITY")
                    || f.contains("not valid JSON")
                    || f.contains("damaged")),
                "{command} {mode}: {about:?}"
            );
        }
    }
}

#[test]
fn salvage_command_returns_the_nan_file_unchanged() {
    let original = nan_file();
    let f = sample_with(&original);
    let path = f.path(POSITIONS);
    let path = path.to_str().expect("utf8");
    let out = f.run(&["salvage", path]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, original, "byte for byte");
    let (rc, v) = f.json(&["salvage", path]);
    assert_eq!(rc, 0);
    assert_eq!(v["report"]["outcome"]["kind"], "intact");
    assert_eq!(v["report"]["records_kept"], 9);
    assert_eq!(v["report"]["records_lost"], 0);
    assert_eq!(v["report"]["records_lost_is_lower_bound"], false);
}

#[test]
fn truncated_nan_file_keeps_every_intact_record_in_paper_mode() {
    let original = String::from_utf8(nan_file()).expect("utf8");
    // Cut inside the last closed position: five records of closed history are intact
    // before it, the open ones (with NaN and -Infinity) further up.
    let cut = original
        .rfind("\"close_reason\"")
        .expect("a closed position");
    let damaged = &original[..cut];
    let f = sample_with(damaged.as_bytes());
    let (_, v) = f.json(&["heal", "--mode", "paper"]);
    let healed = String::from_utf8(f.read(POSITIONS)).expect("utf8");
    let recs = records(damaged);
    let intact: Vec<&String> = recs.iter().filter(|(_, c)| *c).map(|(t, _)| t).collect();
    assert_eq!(
        intact.len(),
        8,
        "6 open and 2 closed positions before the cut"
    );
    for rec in &intact {
        assert!(healed.contains(rec.as_str()), "kept verbatim: {rec}");
    }
    assert!(intact.iter().any(|r| r.contains("\"mtf_alignment\": NaN")));
    assert!(intact
        .iter()
        .any(|r| r.contains("\"ofi_score\": -Infinity")));
    let (cut_record, closed) = recs.last().expect("the cut record");
    assert!(!closed && !healed.contains(cut_record.as_str()));
    let high: Vec<String> = findings_about(&v, POSITIONS);
    assert!(
        high.iter().any(|m| m.contains("DATA_INTEGRITY")
            && m.contains("lost at least 1 record and")
            && m.contains("not counting records past the cut")),
        "{high:?}"
    );
    assert!(
        !high.iter().any(|m| m.contains("invalid position")),
        "{high:?}"
    );
    let (_, again) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(actions_on(&again, POSITIONS), Vec::<String>::new());
}

#[test]
fn real_mode_refuses_a_truncated_nan_file_and_says_at_least() {
    let original = String::from_utf8(nan_file()).expect("utf8");
    let cut = original
        .rfind("\"close_reason\"")
        .expect("a closed position");
    let f = sample_with(&original.as_bytes()[..cut]);
    let path = f.path(POSITIONS);
    let out = f.run(&["salvage", path.to_str().expect("utf8")]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("salvaged 8 records, lost at least 1 record and"),
        "{}",
        stderr(&out)
    );
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert_eq!(f.read(POSITIONS), &original.as_bytes()[..cut]);
    let critical: Vec<String> = v["critical"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    assert!(
        critical
            .iter()
            .any(|c| c.starts_with("DATA_INTEGRITY") && c.contains("lost at least 1 record")),
        "{critical:?}"
    );
}

#[test]
fn open_position_with_nan_entry_price_is_data_integrity_in_real_mode() {
    let text = String::from_utf8(nan_file()).expect("utf8");
    let bad = text.replacen("\"entry_price\": 97123.45", "\"entry_price\": NaN", 1);
    assert_ne!(bad, text);
    let f = sample_with(bad.as_bytes());
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert_eq!(v["start_allowed"], false);
    assert_eq!(f.read(POSITIONS), bad.as_bytes(), "nothing rewritten");
    assert_eq!(actions_on(&v, POSITIONS), Vec::<String>::new());
    let critical: Vec<String> = v["critical"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    assert!(
        critical.iter().any(|c| c.starts_with("DATA_INTEGRITY")
            && c.contains("open_positions")
            && c.contains("entry_price is not finite (NaN)")),
        "{critical:?}"
    );
}

#[test]
fn closed_position_with_infinite_size_is_a_high_warning() {
    let text = String::from_utf8(nan_file()).expect("utf8");
    let closed_at = text.find("\"closed_positions\"").expect("closed");
    let size = closed_at + text[closed_at..].find("\"size\": ").expect("a size");
    let end = size + text[size..].find(',').expect("end of the value");
    let bad = format!("{}\"size\": Infinity{}", &text[..size], &text[end..]);
    let f = sample_with(bad.as_bytes());
    let (_, v) = f.json(&["check", "--mode", "real"]);
    let about = findings_about(&v, POSITIONS);
    assert!(
        about
            .iter()
            .any(|m| m.starts_with("\"DATA_INTEGRITY\" \"HIGH\"")
                && m.contains("closed_positions")
                && m.contains("size is not finite (Infinity)")),
        "{about:?}"
    );
    assert!(
        !about
            .iter()
            .any(|m| m.starts_with("\"DATA_INTEGRITY\" \"CRITICAL\"")),
        "{about:?}"
    );
}

/// The bot's file without its `closed_positions` (a heal adds it back).
fn nan_file_without_closed() -> String {
    let text = String::from_utf8(nan_file()).expect("utf8");
    let start = text.find("  \"closed_positions\"").expect("closed");
    let end = text.find("  \"created_at\"").expect("created_at");
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn journal_show_diffs_nan_records_as_strict_json() {
    let before = nan_file_without_closed();
    let f = sample_with(before.as_bytes());
    let (_, v) = f.json(&["heal", "--mode", "paper"]);
    let heal_txn = v["transaction"].as_u64().expect("transaction");
    let added = actions_on(&v, POSITIONS);
    assert!(
        added.len() == 1 && added[0].contains("closed_positions"),
        "{added:?}"
    );
    // The operator edits the NaN away; rolling the heal back brings it back.
    let healed = String::from_utf8(f.read(POSITIONS)).expect("utf8");
    f.write(
        POSITIONS,
        healed.replacen("\"mtf_alignment\": NaN", "\"mtf_alignment\": 0.5", 1),
    );
    let out = f.run(&["rollback", &heal_txn.to_string(), "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(f.read(POSITIONS), before.as_bytes());
    let back = (heal_txn + 1).to_string();
    let (rc, show) = f.json(&["journal", "show", &back]);
    assert_eq!(rc, 0, "strict JSON output: {show}");
    let op = show["operations"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["path"] == POSITIONS).cloned())
        .expect("the positions file");
    let diff = &op["diff"];
    assert_eq!(diff["status"], "diff", "{op}");
    assert!(diff.get("before_note").is_none(), "{diff}");
    assert_eq!(diff["keys_removed"][0]["key"], "closed_positions", "{diff}");
    let a = &diff["arrays"][0];
    assert_eq!(a["key"], "open_positions");
    assert_eq!(a["unchanged"], 5, "{a}");
    let changed = &a["changed"][0];
    assert_eq!(changed["fields"], serde_json::json!(["mtf_alignment"]));
    assert_eq!(changed["before"]["mtf_alignment"], 0.5);
    assert_eq!(
        changed["after"]["mtf_alignment"], "NaN",
        "the token, as a string"
    );
    let human = stdout(&f.run(&["journal", "show", &back]));
    assert!(human.contains("mtf_alignment 0.5 -> NaN"), "{human}");
}
