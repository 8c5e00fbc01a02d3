//! The corrupted-JSON heal: real mode never applies a lossy or ambiguous salvage (the file
//! stays byte for byte, DATA_INTEGRITY, exit 4) until `--accept-loss`; paper mode applies it
//! and real mode stays blocked until `ack`; unusable valid JSON is never rewritten; the
//! read-only `salvage` command; `journal show` lists what a salvage kept and lost.

use crate::support::{code, stderr, Fixture};

fn record(i: usize) -> String {
    format!("{{\"symbol\": \"BTC-USDT\", \"direction\": \"LONG\", \"strategy\": \"s{i}\", \"entry_price\": 100.10, \"size\": -3.519194e1, \"leverage\": 2, \"order_id\": \"o{i}\"}}")
        .replace("-3.519194e1", "35.19194")
}

/// A positions file of 2 open and 3 closed records, cut inside the last closed one.
fn truncated(f: &Fixture) -> Vec<u8> {
    let open: Vec<String> = (0..2).map(record).collect();
    let closed: Vec<String> = (2..5).map(record).collect();
    let doc = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": [{}]}}",
        open.join(", "),
        closed.join(", ")
    );
    let cut = doc.len() - 50;
    let bytes = doc.as_bytes()[..cut].to_vec();
    f.write("logs/positions_futures.json", &bytes);
    f.write(
        "logs/portfolio_futures.json",
        "{\"open_positions_count\": 2}",
    );
    bytes
}

fn criticals(v: &serde_json::Value) -> Vec<String> {
    v["critical"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn real_mode_never_applies_a_lossy_salvage_until_accept_loss() {
    let f = Fixture::with_root();
    let original = truncated(&f);
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert_eq!(v["start_allowed"], false);
    let c = criticals(&v);
    assert!(
        c.iter().any(|c| c.starts_with("DATA_INTEGRITY")
            && c.contains("salvaged 4 records, lost at least 1 record and")),
        "{c:?}"
    );
    assert_eq!(
        f.read("logs/positions_futures.json"),
        original,
        "the damaged file stays as it is"
    );
    let (rc, v) = f.json(&["heal", "--mode", "real", "--accept-loss"]);
    assert_eq!(rc, 0, "{v}");
    let salvaged = f.read("logs/positions_futures.json");
    let doc: serde_json::Value = serde_json::from_slice(&salvaged).expect("valid JSON");
    assert_eq!(doc["open_positions"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["closed_positions"].as_array().map(Vec::len), Some(2));
    let text = String::from_utf8(salvaged).expect("utf8");
    assert!(
        text.contains(&record(0)) && text.contains(&record(3)),
        "records kept verbatim: {text}"
    );
    assert!(text.contains("100.10"), "numbers keep their text");
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "an accepted loss needs no acknowledgement: {v}");
}

#[test]
fn a_paper_mode_lossy_salvage_blocks_real_mode_until_ack() {
    let f = Fixture::with_root();
    let original = truncated(&f);
    let (rc, v) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let txn = v["transaction"].as_u64().expect("txn");
    assert!(
        v["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("lossy salvage")))),
        "{v}"
    );
    assert_ne!(f.read("logs/positions_futures.json"), original);
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let root = std::fs::canonicalize(f.root()).expect("canonical root");
    let hint = format!("`selfheal --root {} ack {txn}`", root.display());
    assert!(criticals(&v).iter().any(|c| c.contains(&hint)), "{v}");
    let out = f.run(&["ack", &(txn + 100).to_string()]);
    assert_eq!(code(&out), 16, "{}", stderr(&out));
    let out = f.run(&["ack", &txn.to_string()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = f.run(&["ack", &txn.to_string()]);
    assert_eq!(
        code(&out),
        16,
        "nothing left to acknowledge: {}",
        stderr(&out)
    );
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    let shown = f.json(&["journal", "show", &txn.to_string()]).1;
    let op = shown["operations"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["heal"] == "corrupted_json").cloned())
        .expect("salvage op");
    assert!(
        op["object"].as_str().is_some(),
        "the original bytes are in the store: {op}"
    );
}

#[test]
fn journal_show_of_a_salvage_lists_the_records_kept_and_lost() {
    let f = Fixture::with_root();
    truncated(&f);
    let txn = f.json(&["heal", "--mode", "paper"]).1["transaction"]
        .as_u64()
        .expect("txn");
    let (rc, v) = f.json(&["journal", "show", &txn.to_string()]);
    assert_eq!(rc, 0);
    let op = v["operations"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["heal"] == "corrupted_json").cloned())
        .expect("salvage op");
    let view = &op["diff"];
    assert_eq!(view["status"], "salvage");
    let kept: Vec<String> = view["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k[0].as_str().unwrap_or(""),
                k[1].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kept,
        vec![
            "open_positions BTC-USDT / s0 / LONG",
            "open_positions BTC-USDT / s1 / LONG",
            "closed_positions BTC-USDT / s2 / LONG",
            "closed_positions BTC-USDT / s3 / LONG",
        ]
    );
    let lost = view["lost"].as_array().expect("lost");
    assert_eq!(lost.len(), 1);
    assert!(
        lost[0][1]
            .as_str()
            .is_some_and(|t| t.contains("\"strategy\": \"s4\"")),
        "{lost:?}"
    );
    let human = crate::support::data_of(&f.run(&["journal", "show", &txn.to_string()]));
    assert!(
        human.contains("kept   closed_positions: BTC-USDT / s3 / LONG")
            && human.contains("lost   bytes")
            && human.contains("(truncated): "),
        "{human}"
    );
}

#[test]
fn a_lossless_repair_is_applied_in_real_mode() {
    let f = Fixture::with_root();
    let body = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": [],}}",
        record(0)
    );
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(body.as_bytes());
    f.write("logs/positions_futures.json", &bytes);
    f.write(
        "logs/portfolio_futures.json",
        "{\"open_positions_count\": 1}",
    );
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    let healed = f.read("logs/positions_futures.json");
    assert!(!healed.starts_with(b"\xef\xbb\xbf"));
    assert!(String::from_utf8(healed)
        .expect("utf8")
        .contains(&record(0)));
}

#[test]
fn two_versions_concatenated_are_ambiguous_and_never_applied_in_real_mode() {
    let f = Fixture::with_root();
    let v1 = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": []}}",
        record(0)
    );
    let v2 = format!(
        "{{\"open_positions\": [], \"closed_positions\": [{}]}}",
        record(0)
    );
    let bytes = format!("{v1}\n{v2}");
    f.write("logs/positions_futures.json", &bytes);
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert!(criticals(&v).iter().any(|c| c.contains("ambiguous")), "{v}");
    assert_eq!(f.read("logs/positions_futures.json"), bytes.as_bytes());
    let (rc, v) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "an ambiguous salvage needs an acknowledgement: {v}");
}

#[test]
fn valid_but_unusable_json_is_never_rewritten() {
    let deep = format!(
        "{{\"open_positions\": [], \"closed_positions\": [], \"x\": {}1{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let cases = [
        (
            "out of range",
            "{\"open_positions\": [{\"size\": 1e400}], \"closed_positions\": []}".to_string(),
        ),
        ("too deep", deep),
        (
            "duplicate keys",
            "{\"open_positions\": [], \"open_positions\": [], \"closed_positions\": []}"
                .to_string(),
        ),
    ];
    for (what, content) in cases {
        for mode in ["paper", "real"] {
            let f = Fixture::with_root();
            f.write("logs/positions_futures.json", &content);
            let (rc, v) = f.json(&["heal", "--mode", mode]);
            assert_eq!(rc, if mode == "real" { 4 } else { 0 }, "{what} {mode}: {v}");
            assert!(
                criticals(&v)
                    .iter()
                    .any(|c| c.starts_with("DATA_INTEGRITY")),
                "{what} {mode}: {v}"
            );
            assert_eq!(
                f.read("logs/positions_futures.json"),
                content.as_bytes(),
                "{what} {mode}: never rewritten"
            );
        }
    }
}

/// A document cut inside nesting deeper than the limit is damaged, not "valid JSON that
/// cannot be used": only syntactically valid bytes are unusable.
#[test]
fn a_cut_inside_deep_nesting_is_damage_not_valid_json() {
    let cut = format!(
        "{{\"open_positions\": [{{\"symbol\": \"A\"}}, {{\"x\": {}1",
        "[".repeat(300)
    );
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", &cut);
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let c = criticals(&v);
    assert!(
        c.iter()
            .any(|c| c.starts_with("DATA_INTEGRITY") && c.contains("is damaged")),
        "{c:?}"
    );
    assert!(!c.iter().any(|c| c.contains("valid JSON but")), "{c:?}");
    assert_eq!(f.read("logs/positions_futures.json"), cut.as_bytes());
}

/// A portfolio cut right after `{"total` keeps nothing: one heal settles it (the second
/// applies nothing), and real mode waits for an acknowledgement because records past the
/// cut were never counted.
#[test]
fn a_salvage_that_keeps_nothing_settles_in_one_heal() {
    let f = Fixture::with_root();
    f.write("logs/portfolio_futures.json", "{\"total");
    let (rc, v) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let healed = f.read("logs/portfolio_futures.json");
    let doc: serde_json::Value = serde_json::from_slice(&healed).expect("valid JSON");
    assert_eq!(doc["total_margin_allocated"], 0.0, "the default portfolio");
    let (rc, again) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{again}");
    assert_eq!(
        again["actions"],
        serde_json::json!([]),
        "idempotent: {again}"
    );
    assert_eq!(f.read("logs/portfolio_futures.json"), healed);
    let (rc, real) = f.json(&["check", "--mode", "real"]);
    assert_eq!(rc, 4, "{real}");
    assert!(
        criticals(&real)
            .iter()
            .any(|c| c.contains("lossy salvage") && c.contains("lost at least 0 records")),
        "{real}"
    );
}

#[test]
fn salvage_command_is_read_only() {
    let f = Fixture::with_root();
    let original = truncated(&f);
    let before = crate::support::snapshot(f.dir.path());
    let out = f.run(&["salvage"]);
    assert_eq!(code(&out), 1, "something lost: {}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the salvaged document");
    assert_eq!(doc["closed_positions"].as_array().map(Vec::len), Some(2));
    assert!(
        stderr(&out).contains("salvaged 4 records, lost at least 1 record and"),
        "{}",
        stderr(&out)
    );
    let path = f.path("logs/positions_futures.json");
    let (rc, v) = f.json(&["salvage", path.to_str().expect("utf8")]);
    assert_eq!(rc, 1);
    assert_eq!(v["report"]["records_kept"], 4);
    assert_eq!(v["report"]["outcome"]["kind"], "lossy");
    let mut child = f
        .cmd(&["salvage", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"open_positions\": [], \"closed_positions\": []}")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "an intact document loses nothing");
    assert_eq!(
        out.stdout,
        b"{\"open_positions\": [], \"closed_positions\": []}"
    );
    assert_eq!(f.read("logs/positions_futures.json"), original);
    assert_eq!(
        before,
        crate::support::snapshot(f.dir.path()),
        "salvage writes nothing"
    );
}
