//! The run summary vectors (`vectors/summaries/`): a complete summary reads with every
//! member kept and needs an acknowledgement for its lossy salvage; a summary missing a
//! decision member, or with one mistyped, does not read (a reader then assumes the worst).

#![allow(clippy::disallowed_methods)]

use journal_format::RunSummary;
use serde_json::Value;
use std::path::PathBuf;

fn vector(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/summaries")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_complete_run_summary_reads_and_writes_back_the_same() {
    let v = vector("run.json");
    let s = RunSummary::read(&v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.known_files, ["logs/positions_futures.json"]);
    assert!(s.salvage.iter().all(|e| e.needs_ack()));
    assert_eq!(s.critical[0].code, "STATE_MISMATCH");
    assert_eq!(s.disk_free, Some(25_272_254_464));
    assert_eq!(s.to_value(), v, "every member kept");
}

#[test]
fn a_missing_or_mistyped_decision_member_does_not_read() {
    for (name, member) in [
        ("missing-known-files.json", "known_files"),
        ("mistyped-records-lost.json", "invalid type"),
    ] {
        match RunSummary::read(&vector(name)) {
            Ok(s) => panic!("{name} read: {s:?}"),
            Err(e) => assert!(e.contains(member), "{name}: {e}"),
        }
    }
}
