//! Recovery beyond the crash matrix: a conflict stops every write until an operator
//! decides; a torn journal tail is saved aside and cut; a journal of an unknown format
//! version is never appended to.

use crate::support::{code, stderr, Fixture};

#[test]
fn a_torn_journal_tail_is_saved_aside_and_cut() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    assert_eq!(code(&f.run(&["heal"])), 0);
    let journal = f.path("logs/backups/journal/txn-0000000001.jsonl");
    let bytes = std::fs::read(&journal).expect("journal");
    let cut = bytes.len() - 30;
    std::fs::write(&journal, &bytes[..cut]).expect("truncate");
    let verify = f.run(&["journal", "verify"]);
    assert_eq!(
        code(&verify),
        0,
        "a torn tail is tolerated: {}",
        stderr(&verify)
    );
    assert!(stderr(&verify).contains("torn tail"), "{}", stderr(&verify));
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    assert!(
        v["recovery"]["torn_tail_saved_to"]
            .as_str()
            .is_some_and(|p| p.starts_with("logs/backups/torn/")),
        "{v}"
    );
    let torn_dir = f.path("logs/backups/torn");
    let saved: Vec<_> = std::fs::read_dir(&torn_dir)
        .expect("torn dir")
        .flatten()
        .collect();
    assert_eq!(saved.len(), 1);
    let saved_bytes = std::fs::read(saved[0].path()).expect("saved");
    let last_line_start = bytes[..cut]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    // A header line (where the tail was, its length and SHA-256), then the bytes (all of
    // them: this tail is shorter than the part kept).
    let nl = saved_bytes
        .iter()
        .position(|&b| b == b'\n')
        .expect("header line");
    let header: serde_json::Value = serde_json::from_slice(&saved_bytes[..nl]).expect("json");
    let torn = &bytes[last_line_start..cut];
    assert_eq!(header["offset"], last_line_start as u64, "{header}");
    assert_eq!(header["len"], torn.len() as u64, "{header}");
    assert_eq!(header["saved"], torn.len() as u64, "{header}");
    use sha2::Digest as _;
    let sha = sha2::Sha256::digest(torn);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(header["sha256"], hex.as_str(), "{header}");
    assert_eq!(
        saved_bytes[nl + 1..].to_vec(),
        torn.to_vec(),
        "the torn bytes are kept exactly"
    );
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
    let after = f.run(&["journal", "verify"]);
    assert!(!stderr(&after).contains("torn tail"), "{}", stderr(&after));
}

#[test]
fn a_corrupt_record_in_the_middle_blocks_every_write() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    assert_eq!(code(&f.run(&["heal"])), 0);
    let journal = f.path("logs/backups/journal/txn-0000000001.jsonl");
    let mut bytes = std::fs::read(&journal).expect("journal");
    let second_line = bytes.iter().position(|&b| b == b'\n').expect("line") + 20;
    bytes[second_line] ^= 0x01;
    std::fs::write(&journal, &bytes).expect("write");
    f.write("logs/portfolio_futures.json", "");
    let before = f.snapshot();
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert!(
        v["critical"].as_array().is_some_and(|c| c.iter().any(|x| x
            .as_str()
            .is_some_and(|s| s.starts_with("JOURNAL_INTEGRITY")))),
        "{v}"
    );
    assert_eq!(v["transaction"], serde_json::Value::Null);
    assert_eq!(
        before,
        f.snapshot(),
        "nothing may be written while the journal is untrusted"
    );
    let (rc, _) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "paper mode still starts");
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("txn-0000000001.jsonl") && stderr(&out).contains("line 2"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_journal_of_an_unknown_version_is_never_appended_to() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    let newer = f.path("logs/backups/journal/txn-0000000002.jsonl");
    let body = r#"{"v":2,"seq":9,"txn":2,"ts":"2027-01-01T00:00:00.000Z","prev":"0000000000000000000000000000000000000000000000000000000000000000","type":"header","data":{}}"#;
    let tag = journal_format::Mac::Sha256.tag(body.as_bytes());
    std::fs::write(&newer, format!("{body}\t{tag}\n")).expect("write");
    f.write("logs/positions_futures.json", "");
    let before = f.snapshot();
    let journal_before = std::fs::read(&newer).expect("read");
    let out = f.run(&["heal"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("format version 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(before, f.snapshot());
    assert_eq!(std::fs::read(&newer).expect("read"), journal_before);
    assert_eq!(
        std::fs::read_dir(f.path("logs/backups/journal"))
            .expect("dir")
            .count(),
        2,
        "no new transaction file"
    );
}

/// A heal crashed at fault point `after + 2` of the point that renames `rel`, on a root
/// made by `setup` (the same setup traced first to number the points).
#[cfg(feature = "fault-injection")]
fn crashed_after_rename(setup: impl Fn(&Fixture), rel: &str) -> Fixture {
    let f = Fixture::with_root();
    setup(&f);
    let trace = f
        .cmd(&["heal"])
        .env("SELFHEAL_FAULT_TRACE", "1")
        .output()
        .expect("trace");
    let points: Vec<String> = stderr(&trace)
        .lines()
        .filter(|l| l.starts_with("fault-point"))
        .map(str::to_string)
        .collect();
    let g = Fixture::with_root();
    setup(&g);
    // Crash right after the file was renamed into place, before its done.
    let k = points
        .iter()
        .position(|p| p.contains(&format!("Rename {rel}")))
        .expect("rename point")
        + 2;
    let out = g
        .cmd(&["heal"])
        .env("SELFHEAL_FAULT", format!("{k}:crash"))
        .output()
        .expect("crash");
    assert_eq!(code(&out), -6, "{}", stderr(&out));
    g
}

#[cfg(feature = "fault-injection")]
fn empty_state(f: &Fixture) {
    f.write("logs/positions_futures.json", "");
    f.write("logs/portfolio_futures.json", "");
}

/// The heal held the bot's lock on the positions file: what is there after the crash that
/// is neither side was written by the bot under its lock since, and is its newer version.
#[cfg(feature = "fault-injection")]
#[test]
fn a_file_the_bot_rewrote_after_a_killed_heal_is_kept_as_its_newer_version() {
    let g = crashed_after_rename(empty_state, "logs/positions_futures.json");
    let bots = b"{\"open_positions\":[],\"closed_positions\":[],\"edited\":1}".to_vec();
    g.write("logs/positions_futures.json", &bots);
    let (rc, v) = g.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        g.read("logs/positions_futures.json"),
        bots,
        "the bot's version stays"
    );
    assert!(
        v["recovery"].to_string().contains("kept"),
        "recovery says it kept the bot's version: {v}"
    );
    assert_eq!(code(&g.run(&["journal", "verify"])), 0);
}

/// A heartbeat is no file the bot locks: a third version of it after a crash is a conflict,
/// which changes nothing until the operator keeps what is there.
#[cfg(feature = "fault-injection")]
#[test]
fn a_recovery_conflict_changes_nothing_until_the_operator_keeps_current() {
    let setup = |f: &Fixture| {
        empty_state(f);
        f.write("logs/.bot_heartbeat", "1000");
    };
    let g = crashed_after_rename(setup, "logs/.bot_heartbeat");
    g.write("logs/.bot_heartbeat", "2000");
    let before = g.snapshot();
    let rec = g.run(&["recover"]);
    assert_eq!(code(&rec), 4, "{}", stderr(&rec));
    assert!(stderr(&rec).contains("matches neither"), "{}", stderr(&rec));
    assert_eq!(before, g.snapshot());
    let (rc, v) = g.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert_eq!(before, g.snapshot(), "no heal while a conflict is open");
    let keep = g.run(&["recover", "--keep-current"]);
    assert_eq!(code(&keep), 0, "{}", stderr(&keep));
    assert_eq!(
        before,
        g.snapshot(),
        "keep-current accepts the files as they are"
    );
    let (rc, v) = g.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(code(&g.run(&["journal", "verify"])), 0);
}

#[test]
fn journal_list_show_and_verify() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    let (_, heal) = f.json(&["heal", "--mode", "real"]);
    let id = heal["transaction"].as_u64().expect("txn");
    let (rc, list) = f.json(&["journal", "list"]);
    assert_eq!(rc, 0);
    let t = &list["transactions"][0];
    assert_eq!(
        (
            t["id"].as_u64(),
            t["command"].as_str(),
            t["mode"].as_str(),
            t["outcome"].as_str()
        ),
        (Some(id), Some("heal"), Some("real"), Some("committed"))
    );
    let (rc, show) = f.json(&["journal", "show", &id.to_string()]);
    assert_eq!(rc, 0);
    let op = show["operations"]
        .as_array()
        .and_then(|o| {
            o.iter()
                .find(|x| x["path"] == "logs/positions_futures.json")
                .cloned()
        })
        .expect("op");
    assert_eq!(op["kind"], "replace_file");
    assert_eq!(
        op["before"]["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(op["before"]["size"], 0);
    assert!(op["after"]["sha256"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
    assert_eq!(op["applied"], true);
    let (rc, v) = f.json(&["journal", "verify"]);
    assert_eq!(rc, 0);
    assert_eq!(v["objects"], 1);
}
