//! Transaction ids are unambiguous: a file name is `txn-` and exactly 10 digits; any other
//! entry of the journal directory is a JOURNAL_INTEGRITY finding naming it (an entry the
//! reader cannot account for could hide a transaction), never ignored; and a transaction
//! whose id would not fit its file name is refused before anything is written.

use crate::support::journal::{history, journal_files, JOURNAL};
use crate::support::{code, stderr, Fixture};
use journal_format as jf;

fn blocked_naming(f: &Fixture, name: &str) {
    let before = crate::support::exact_tree(&f.path("logs/backups"));
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let critical = v["critical"].to_string();
    assert!(
        critical.contains("JOURNAL_INTEGRITY") && critical.contains(name),
        "{v}"
    );
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(name), "{}", stderr(&out));
    assert_eq!(
        crate::support::exact_tree(&f.path("logs/backups")),
        before,
        "nothing written"
    );
}

#[test]
fn a_stray_empty_last_id_file_blocks_and_is_quarantined_without_using_the_ids_up() {
    let f = history(2);
    f.write(&format!("{JOURNAL}/txn-9999999999.jsonl"), "");
    blocked_naming(&f, "txn-9999999999.jsonl");
    let (rc, q) = f.json(&["journal", "quarantine"]);
    assert_eq!(rc, 0, "{q}");
    assert_eq!(q["transaction"], 4, "an empty file reserves no id: {q}");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
}

#[test]
fn an_eleven_digit_name_is_a_finding() {
    let f = history(1);
    f.write(&format!("{JOURNAL}/txn-10000000000.jsonl"), "");
    blocked_naming(&f, "txn-10000000000.jsonl");
}

#[test]
fn any_other_entry_of_the_journal_directory_is_a_finding() {
    let f = history(1);
    f.write(&format!("{JOURNAL}/notes.txt"), "hello\n");
    blocked_naming(&f, "notes.txt");
    let g = history(1);
    g.mkdir(&format!("{JOURNAL}/backup"));
    blocked_naming(&g, "backup");
}

/// A journal whose only file is a committed prune of id 9999999999 (anchored to the
/// transactions it pruned): it verifies, and its next id has no file name.
fn last_id_journal(f: &Fixture) {
    let mac = jf::Mac::Sha256;
    let through = jf::MAX_TXN - 1;
    let anchor = jf::Checkpoint {
        through_txn: through,
        seq: 41,
        hash: jf::Digest([7; 32]),
    };
    let bodies = vec![
        jf::Body::Header(jf::Header {
            magic: jf::MAGIC.into(),
            tool: "selfheal test".into(),
            mac: jf::MacKind::Sha256,
        }),
        jf::Body::Begin(jf::Begin {
            command: "prune".into(),
            mode: None,
            pid: 1,
            plan: Vec::new(),
        }),
        jf::Body::Checkpoint(anchor),
        jf::Body::Commit(jf::Commit {
            summary: serde_json::json!({}),
        }),
    ];
    let (mut seq, mut prev, mut bytes) = (anchor.seq, anchor.hash, Vec::new());
    for body in bodies {
        seq += 1;
        let r = jf::Record {
            v: jf::VERSION,
            seq,
            txn: jf::MAX_TXN,
            ts: "2026-11-27T12:00:00.000Z".into(),
            prev,
            body,
        };
        let line = jf::encode(&r, &mac).expect("encode");
        prev = line.tag;
        bytes.extend_from_slice(&line.bytes);
    }
    f.mkdir(JOURNAL);
    f.write(&format!("{JOURNAL}/{}", jf::file_name(jf::MAX_TXN)), bytes);
}

#[test]
fn an_id_past_the_file_name_width_is_refused_before_anything_is_written() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    std::fs::remove_dir_all(f.path(JOURNAL)).expect("rm journal");
    last_id_journal(&f);
    assert_eq!(code(&f.run(&["journal", "verify"])), 0, "it verifies");
    f.write("logs/portfolio_futures.json", "");
    let before = crate::support::exact_tree(&f.root());
    let out = f.run(&["heal"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("transaction ids end at 9999999999"),
        "{}",
        stderr(&out)
    );
    assert_eq!(journal_files(&f), vec![jf::file_name(jf::MAX_TXN)]);
    let after = crate::support::exact_tree(&f.root());
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v) && !k.starts_with("logs/operator_alerts"))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(changed.is_empty(), "nothing written: {changed:?}");
}
