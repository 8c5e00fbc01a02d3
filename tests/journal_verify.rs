//! `journal verify` catches a flipped byte, a deleted record, a reordered record and a lost
//! transaction file, and names the first bad record by file, line and seq (exit 4).

use crate::support::states::{damaged, heal_with};
use crate::support::{code, stderr, Fixture};

const FIRST: &str = "logs/backups/journal/txn-0000000001.jsonl";

/// A root with three committed transactions; the first has many records. Each later heal
/// has a file to repair (a heal that repairs nothing and decides as the one before writes
/// no transaction).
fn journaled() -> Fixture {
    let f = Fixture::with_root();
    let config = damaged(&f);
    for i in 0..3 {
        if i > 0 {
            f.write("state/bot_state.json", "");
        }
        heal_with(&f, &config);
    }
    f
}

fn lines(f: &Fixture, rel: &str) -> Vec<Vec<u8>> {
    f.read(rel)
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn set_lines(f: &Fixture, rel: &str, lines: &[Vec<u8>]) {
    f.write(rel, lines.concat());
}

/// Runs `journal verify` both ways and checks it fails naming `file`, `line` and `seq`.
fn assert_names(f: &Fixture, file: &str, line: u64, seq: u64) {
    let out = f.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let text = stderr(&out);
    let name = file.rsplit('/').next().unwrap_or(file);
    for part in [name.to_string(), format!("line {line} (seq {seq})")] {
        assert!(text.contains(&part), "expected {part:?} in: {text}");
    }
    let (rc, v) = f.json(&["journal", "verify"]);
    assert_eq!(rc, 4);
    assert_eq!(v["bad_record"]["file"], file, "{v}");
    assert_eq!(v["bad_record"]["line"], line, "{v}");
    assert_eq!(v["bad_record"]["seq"], seq, "{v}");
}

#[test]
fn an_untouched_journal_verifies() {
    let f = journaled();
    let (rc, v) = f.json(&["journal", "verify"]);
    assert_eq!(rc, 0, "{v}");
    assert!(v["problem"].is_null());
    assert_eq!(v["transactions"], 3);
}

#[test]
fn a_flipped_byte_is_named() {
    let f = journaled();
    let mut l = lines(&f, FIRST);
    assert!(l.len() > 5);
    let at = l[2]
        .windows(8)
        .position(|w| w == b"\"path\":\"")
        .expect("an intent path in line 3")
        + 8;
    l[2][at] ^= 0x20;
    set_lines(&f, FIRST, &l);
    assert_names(&f, FIRST, 3, 3);
}

#[test]
fn a_deleted_record_is_named() {
    let f = journaled();
    let mut l = lines(&f, FIRST);
    l.remove(3);
    set_lines(&f, FIRST, &l);
    assert_names(&f, FIRST, 4, 5);
}

#[test]
fn a_reordered_record_is_named() {
    let f = journaled();
    let mut l = lines(&f, FIRST);
    l.swap(2, 3);
    set_lines(&f, FIRST, &l);
    assert_names(&f, FIRST, 3, 4);
}

#[test]
fn a_lost_transaction_file_is_named() {
    let f = journaled();
    let second = "logs/backups/journal/txn-0000000002.jsonl";
    let first_seq_of_third = (lines(&f, FIRST).len() + lines(&f, second).len() + 1) as u64;
    std::fs::remove_file(f.path(second)).expect("rm");
    assert_names(
        &f,
        "logs/backups/journal/txn-0000000003.jsonl",
        1,
        first_seq_of_third,
    );
}
