//! A restart loop must not make every start slower: a heal that applies nothing and decides
//! what the newest run decided writes no transaction (it is counted in the run record);
//! a heal whose index holds reads the index and the newest file only; retention bounds the
//! number of transactions whatever their age.

use crate::support::journal::{history, journal_files, repair_once, JOURNAL};
use crate::support::{code, stderr, Fixture};
use serde_json::Value;

fn stats(f: &Fixture) -> Value {
    let (rc, v) = f.json(&["stats"]);
    assert_eq!(rc, 0, "{v}");
    v
}

/// `history(n)` and one idle heal: the first heal that repairs nothing after one that
/// repaired decides otherwise (it heals nothing) and is journaled.
fn idle(n: usize) -> Fixture {
    let f = history(n);
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["transaction"].as_u64(), Some(n as u64 + 2), "{v}");
    f
}

#[test]
fn a_heal_deciding_as_the_newest_run_writes_no_transaction() {
    let f = idle(1);
    let before = journal_files(&f);
    for _ in 0..5 {
        let (rc, v) = f.json(&["heal"]);
        assert_eq!(rc, 0, "{v}");
        assert!(v["transaction"].is_null(), "no transaction: {v}");
        assert_eq!(v["start_allowed"], true);
    }
    assert_eq!(journal_files(&f), before, "the journal did not grow");
    let s = stats(&f);
    assert_eq!(s["runs"], 8, "every run counted: {s}");
    assert_eq!(s["successes"], 8, "{s}");
    assert_eq!(s["transactions"], 3, "{s}");
    assert_eq!(s["last_run"]["outcome"], "repeated", "{s}");
    let record = std::fs::read_to_string(f.path("logs/backups/meta/runs.jsonl")).expect("record");
    assert!(
        record.contains("\"disk_free\""),
        "its samples kept: {record}"
    );
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
}

#[test]
fn a_heal_deciding_otherwise_writes_its_transaction() {
    let f = idle(1);
    assert!(f.json(&["heal"]).1["transaction"].is_null());
    // Real mode decides for another mode: journaled; then repeated: not.
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    let id = v["transaction"]
        .as_u64()
        .expect("a new decision is journaled");
    assert!(f.json(&["heal", "--mode", "real"]).1["transaction"].is_null());
    // A critical appears: journaled, and it blocks.
    f.write(
        "logs/positions_futures.json",
        r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": -1, "size": 1, "leverage": 1}], "closed_positions": []}"#,
    );
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert_eq!(v["transaction"].as_u64(), Some(id + 1), "{v}");
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "still blocked: {v}");
    assert!(
        v["transaction"].is_null(),
        "the same block, not journaled again: {v}"
    );
    let s = stats(&f);
    assert_eq!(s["criticals"]["DATA_INTEGRITY"], 2, "{s}");
}

/// Waits until the journal directory's last change is older than the index's settling
/// margin, then runs a heal that reads everything and writes the index.
fn settled_index(f: &Fixture) {
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let out = f.run(&["-vv", "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("an index is due"), "{}", stderr(&out));
    assert!(f.path("logs/backups/meta/index.jsonl").is_file());
}

#[test]
fn with_its_index_a_heal_reads_only_the_newest_file() {
    let f = idle(6);
    settled_index(&f);
    // An older file damaged in place (the directory unchanged) is not read by these heals:
    // proof that they read the index and the newest file only. `journal verify` reads
    // everything and finds it (as does the next full read: SPEC.md section 11).
    crate::support::journal::flip(&f, 3, 2);
    for _ in 0..3 {
        let out = f.run(&["-vv", "heal"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("journal read from its index and newest file (transaction 8)"),
            "{}",
            stderr(&out)
        );
    }
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("txn-0000000003.jsonl"),
        "{}",
        stderr(&out)
    );
    // A new entry in the journal directory invalidates the index: read in full, and found.
    f.write(&format!("{JOURNAL}/txn-0000000099.jsonl"), "");
    let out = f.run(&["-vv", "heal", "--mode", "real"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("journal read in full"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("txn-0000000003.jsonl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_index_is_dropped_when_the_newest_file_changes() {
    let f = idle(2);
    settled_index(&f);
    // Re-chained history (as someone with write access could): the newest tag differs.
    crate::support::states::retime(&f, &[1], "2020-01-01T00:00:00.000Z");
    let out = f.run(&["-vv", "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("journal read in full"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn retention_bounds_the_number_of_transactions_whatever_their_age() {
    let f = Fixture::with_root();
    f.write(
        "config/selfheal.json",
        r#"{"retention": {"keep": 2, "older_than": "30d", "warn_size": "1GiB", "auto": true, "max_transactions": 5}}"#,
    );
    assert_eq!(code(&f.run(&["heal"])), 0);
    for _ in 0..12 {
        repair_once(&f);
        let n = journal_files(&f).len();
        assert!(n <= 6, "{n} files: {:?}", journal_files(&f));
    }
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
    let s = stats(&f);
    assert_eq!(s["runs"], 13, "pruned runs are carried: {s}");
    // The bound is validated against keep.
    f.write(
        "config/selfheal.json",
        r#"{"retention": {"keep": 10, "max_transactions": 5}}"#,
    );
    let out = f.run(&["heal"]);
    assert_eq!(code(&out), 16, "{}", stderr(&out));
    assert!(stderr(&out).contains("retention.max_transactions"));
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_heal_writing_its_run_record_and_index_crashed_at_every_point() {
    let template = idle(1);
    let runs = |f: &Fixture| stats(f)["runs"].as_u64().expect("runs");
    let n = runs(&template);
    let copy = || {
        let f = Fixture::new();
        crate::support::copy_tree(&template.root(), &f.root());
        f
    };
    // Each copy's journal directory is new: all are made first, then one wait settles them.
    let traced = copy();
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let points = traced.fault_points(&["heal"]);
    assert!(
        points.iter().any(|p| p.contains("runs.jsonl")),
        "{points:?}"
    );
    assert!(
        points.iter().any(|p| p.contains("index.jsonl")),
        "{points:?}"
    );
    let copies: Vec<Fixture> = points.iter().map(|_| copy()).collect();
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    for (i, (point, f)) in points.iter().zip(copies).enumerate() {
        assert_eq!(code(&f.crash_at(&["heal"], i + 1)), -6, "{point}");
        let got = runs(&f);
        assert!(got == n || got == n + 1, "{point}: {got} runs, {n} before");
        assert_eq!(code(&f.run(&["journal", "verify"])), 0, "{point}");
        let (rc, v) = f.json(&["heal"]);
        assert_eq!(rc, 0, "{point}: {v}");
        assert!(v["transaction"].is_null(), "{point}: {v}");
        assert_eq!(runs(&f), got + 1, "{point}");
    }
    println!(
        "crash matrix (run record and index): {} crash points covered",
        points.len()
    );
}
