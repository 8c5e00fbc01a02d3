//! `watch` and interrupted transactions, with the fault-injection build: a watch cycle
//! killed in the middle of its repair leaves a transaction that the next cycle recovers
//! first — but only once it holds the bot's lock of the file involved: while the bot holds
//! it, every cycle is blocked and the file is left alone. An I/O error inside a cycle rolls
//! the cycle's transaction back and fails that cycle only: the next one repairs.

#![cfg(feature = "fault-injection")]

use crate::support::copy_tree;
use crate::support::procs::{selfheal, tempdir};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const PORTFOLIO: &str = "logs/portfolio_futures.json";

fn watch(root: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut cmd = crate::support::bin_on(root);
    cmd.arg("--json").arg("watch").args(args);
    match fault {
        Some("trace") => cmd.env("SELFHEAL_FAULT_TRACE", "1"),
        Some(f) => cmd.env("SELFHEAL_FAULT", f),
        None => &mut cmd,
    };
    cmd.output().expect("run watch")
}

fn cycles(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A healed root whose portfolio was just emptied.
fn damaged_root() -> tempfile::TempDir {
    let dir = tempdir();
    let run = selfheal(dir.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::write(dir.path().join(PORTFOLIO), b"").expect("empty portfolio");
    dir
}

/// The number of the first fault point of one watch cycle on a copy of `root` that is of
/// `kind`, at or after the rename of the portfolio (a directory fsync names the directory).
fn point(root: &Path, kind: &str) -> u64 {
    let copy = tempdir();
    copy_tree(root, copy.path());
    let out = watch(
        copy.path(),
        &["--cycles", "1", "--interval", "0s"],
        Some("trace"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let points: Vec<(u64, String, String)> = err
        .lines()
        .filter_map(|l| l.strip_prefix("fault-point "))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let n = parts.next()?.parse().ok()?;
            Some((n, parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    let rename = points
        .iter()
        .position(|(_, k, p)| k == "Rename" && p.ends_with(PORTFOLIO))
        .unwrap_or_else(|| panic!("no rename of {PORTFOLIO}:\n{err}"));
    points[rename..]
        .iter()
        .find(|(_, k, _)| k == kind)
        .map(|(n, _, _)| *n)
        .unwrap_or_else(|| panic!("no {kind} point after the rename:\n{err}"))
}

#[test]
fn recovery_waits_for_the_bots_lock_then_rolls_back_and_heals_again() {
    let dir = damaged_root();
    let r = dir.path();
    // Crash right after the portfolio's rename, before its directory fsync: the file is in
    // its healed state and the transaction is unfinished.
    let n = point(r, "FsyncDir");
    let crashed = watch(
        r,
        &["--cycles", "1", "--interval", "0s"],
        Some(&format!("{n}:crash")),
    );
    assert_ne!(
        crashed.status.code(),
        Some(0),
        "the cycle must have crashed"
    );
    let healed_bytes = std::fs::read(r.join(PORTFOLIO)).expect("read");
    assert!(!healed_bytes.is_empty(), "the crash came after the rename");

    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(r.join(format!("{PORTFOLIO}.lock")))
        .expect("open lock");
    lock.lock().expect("the bot's lock");
    let out = watch(r, &["--cycles", "2", "--interval", "0s"], None);
    assert_eq!(out.status.code(), Some(0));
    for c in cycles(&out) {
        assert_eq!(c["outcome"], "blocked", "{c}");
        let skipped = c["skipped"].to_string();
        assert!(
            skipped.contains("recovery of interrupted transaction"),
            "{c}"
        );
        assert!(skipped.contains("is locked by the bot"), "{c}");
    }
    assert_eq!(
        std::fs::read(r.join(PORTFOLIO)).ok(),
        Some(healed_bytes),
        "left alone"
    );

    lock.unlock().expect("unlock");
    let out = watch(r, &["--cycles", "1", "--interval", "0s"], None);
    assert_eq!(out.status.code(), Some(0));
    let c = &cycles(&out)[0];
    assert_eq!(c["recovery"]["outcome"], "rolled_back", "{c}");
    assert_eq!(
        c["outcome"], "committed",
        "healed again after the rollback: {c}"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(r.join(PORTFOLIO)).expect("read"))
        .expect("portfolio is JSON");
    assert_eq!(v["open_positions_count"], 0);
    let verify = selfheal(r, &["journal", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

#[test]
fn an_io_error_in_a_cycle_rolls_it_back_and_the_next_cycle_repairs() {
    let dir = damaged_root();
    let r = dir.path();
    let n = point(r, "Rename");
    let out = watch(
        r,
        &["--cycles", "2", "--interval", "0s"],
        Some(&format!("{n}:eio")),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = cycles(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "failed", "{lines:?}");
    assert!(
        lines[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("Input/output error")),
        "{lines:?}"
    );
    assert_eq!(lines[1]["outcome"], "committed", "{lines:?}");
    let list = selfheal(r, &["journal", "list"]);
    let txns = list.json["transactions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let outcomes: Vec<(&str, &str)> = txns
        .iter()
        .rev()
        .take(2)
        .map(|t| {
            (
                t["command"].as_str().unwrap_or(""),
                t["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("watch", "committed"), ("watch", "aborted")],
        "rolled back, then repaired: {}",
        list.json
    );
    let v: Value = serde_json::from_slice(&std::fs::read(r.join(PORTFOLIO)).expect("read"))
        .expect("portfolio is JSON");
    assert_eq!(v["open_positions_count"], 0);
}
