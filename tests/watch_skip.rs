//! `watch` does not read again what did not change: a managed file with the same inode,
//! size, mtime, ctime and lock state is carried over from the last complete check, the
//! journal is not reloaded while its directory is unchanged, the alert log is not read
//! again while it is unchanged. Proven from the outside: `openat` counts per cycle under
//! strace (when it is installed) and the per-file lines of the debug log. A file rewritten
//! in place with its size and mtime kept is read on the next cycle (its ctime changed);
//! every `watch.full_check_every` cycles everything is read; heartbeat staleness is still
//! judged every cycle; a lock taken or released makes the file read again; an `ack` between
//! cycles is seen by the next one. Cycles are ordered against the test's own actions by
//! their start time (`ts`), never by how long anything takes.

use crate::support::procs::{now, put, selfheal, tempdir};
use crate::support::watch::{cycle_of, findings_of, Watch};
use serde_json::Value;
use std::io::{Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const POS: &str = "logs/positions_futures.json";

/// One open position, no margin (so no STATE_MISMATCH against the default portfolio).
const DOC: &str = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 1.5, "size": 2.0, "leverage": 3}], "closed_positions": []}"#;

/// [`DOC`] with a defect of the same length: an entry price of zero.
const DEFECTIVE: &str = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 0.0, "size": 2.0, "leverage": 3}], "closed_positions": []}"#;

/// A full check never comes after the first cycle.
const NEVER_FULL: &str = r#"{"watch": {"full_check_every": 100000}}"#;

/// A healed root holding [`DOC`] and `config`, left alone for longer than a file must be
/// unchanged before it is carried over (2 s: a write in the same timestamp tick as a read
/// would leave its metadata unchanged), so the second cycle already carries it over.
fn settled_root(config: &str) -> tempfile::TempDir {
    let dir = tempdir();
    put(dir.path(), "config/selfheal.json", config.as_bytes());
    put(dir.path(), POS, DOC.as_bytes());
    put(dir.path(), &format!("{POS}.lock"), b"");
    let run = selfheal(dir.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.json["findings"].as_array().is_some_and(Vec::is_empty),
        "{}",
        run.json
    );
    std::thread::sleep(Duration::from_secs(3));
    dir
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// When a cycle began, milliseconds since the epoch.
fn ts_ms(c: &Value) -> i64 {
    let ts = c["ts"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("cycle ts {ts:?}: {e}"))
        .timestamp_millis()
}

/// Whether the debug log says, for cycle `n`, `what` (e.g. `read logs/x.json`).
fn logged(stderr: &str, n: u64, what: &str) -> bool {
    let head = format!("cycle {n}: {what}");
    stderr.lines().any(|l| l.contains(&head))
}

/// Starts watch on `root` with the debug log, pausing 50 ms between cycles.
fn watch_debug(root: &Path, logs: &Path) -> Watch {
    let args = ["--interval", "50ms", "--lock-timeout", "60s"];
    Watch::spawn(root, &args, &[("RUST_LOG", "debug")], &logs.join("stderr"))
}

/// Reads cycles until one carried `rel` over (not read); returns its number.
fn wait_carried(w: &mut Watch, rel: &str) -> u64 {
    let what = format!("{rel} unchanged since cycle");
    loop {
        assert!(w.next().is_some(), "watch ended: {}", w.stderr());
        let n = w.last();
        if logged(&w.stderr(), n, &what) {
            return n;
        }
        assert!(n < 200, "{rel} never carried over:\n{}", w.stderr());
    }
}

/// The first cycle that began after `after_ms` (reading lines as needed).
fn first_after(w: &mut Watch, after_ms: i64) -> Value {
    let limit = w.last() + 1000;
    let n = w
        .find_by(limit, |c| ts_ms(c) > after_ms)
        .unwrap_or_else(|| panic!("no cycle began after the change:\n{}", w.stderr()));
    w.cycles
        .iter()
        .find(|c| cycle_of(c) == n)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_file_rewritten_in_place_with_its_size_and_mtime_kept_is_read_on_the_next_cycle() {
    let dir = settled_root(NEVER_FULL);
    let (root, logs) = (dir.path(), tempdir());
    let mut w = watch_debug(root, logs.path());
    let carried = wait_carried(&mut w, POS);
    let pos = root.join(POS);
    let before = std::fs::metadata(&pos).expect("stat");
    let mut f = std::fs::File::options()
        .write(true)
        .open(&pos)
        .expect("open");
    f.seek(std::io::SeekFrom::Start(0)).expect("seek");
    f.write_all(DEFECTIVE.as_bytes()).expect("write in place");
    drop(f);
    let mtime = format!("@{}.{:09}", before.mtime(), before.mtime_nsec());
    let touched = Command::new("touch")
        .args(["-d", &mtime])
        .arg(&pos)
        .status();
    assert!(touched.is_ok_and(|s| s.success()), "touch -d {mtime}");
    let written = now_ms();
    let after = std::fs::metadata(&pos).expect("stat");
    let same = |m: &std::fs::Metadata| (m.ino(), m.len(), m.mtime(), m.mtime_nsec());
    assert_eq!(same(&after), same(&before), "inode, size and mtime kept");
    assert_ne!(
        (after.ctime(), after.ctime_nsec()),
        (before.ctime(), before.ctime_nsec()),
        "the write and the touch moved the ctime"
    );
    let next = first_after(&mut w, written);
    let defect = findings_of(&next, "DATA_INTEGRITY");
    assert!(
        defect
            .iter()
            .any(|f| f["path"] == POS && f["level"] == "CRITICAL"),
        "the first cycle after the write reports the defect: {next}"
    );
    let err = w.stderr();
    let reread = (carried + 1..=cycle_of(&next))
        .any(|n| logged(&err, n, &format!("read {POS} (changed since cycle")));
    assert!(reread, "read again because its metadata changed:\n{err}");
    assert_eq!(
        err.matches(": full check (").count(),
        1,
        "only cycle 1 read everything:\n{err}"
    );
}

/// Per cycle of `watch --cycles N` on `root`: the `openat` calls on each of `names` (file
/// names, under strace; `None` without it), and the debug log.
type Reads = (Option<Vec<Vec<usize>>>, String);

fn reads(root: &Path, cycles: u64, names: &[&str]) -> Reads {
    let trace = tempdir();
    let log = trace.path().join("strace.log");
    let n = cycles.to_string();
    let args = ["watch", "--cycles", &n, "--interval", "0s"];
    let log_arg = log.to_str().expect("utf-8 temp path");
    let strace = ["-f", "-s", "64", "-e", "trace=openat,write", "-o", log_arg];
    let mut cmd = crate::support::wrapped("strace", &strace);
    cmd.arg("--root").arg(root).args(args);
    let traced = cmd.env("RUST_LOG", "debug").output();
    let out = match traced {
        Ok(out) if out.status.success() && log.is_file() => out,
        _ => {
            eprintln!("strace is not available: only the debug log is checked");
            let mut plain = crate::support::bin_on(root);
            plain.args(args).env("RUST_LOG", "debug");
            let out = plain.output().expect("run watch");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{err}");
            return (None, err);
        }
    };
    let text = std::fs::read_to_string(&log).expect("strace log");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (Some(opens_per_cycle(&text, cycles, names)), err)
}

/// For cycles 1..=`cycles`, whether the debug log says `what` of it.
fn per_cycle(err: &str, cycles: u64, what: &str) -> Vec<bool> {
    (1..=cycles).map(|n| logged(err, n, what)).collect()
}

/// Splits an strace log at each cycle's status line (`[watch] cycle N:` on stderr) and
/// counts, before each, the opens of each of `names` (a name ending in `-` is a prefix).
fn opens_per_cycle(text: &str, cycles: u64, names: &[&str]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut counts = vec![0; names.len()];
    for line in text.lines() {
        for (i, name) in names.iter().enumerate() {
            let quoted = match name.strip_suffix('-') {
                Some(prefix) => format!("\"{prefix}-"),
                None => format!("\"{name}\""),
            };
            if line.contains("openat(") && line.contains(&quoted) {
                counts[i] += 1;
            }
        }
        if line.contains("write(2, \"[watch] cycle ") {
            out.push(std::mem::replace(&mut counts, vec![0; names.len()]));
        }
    }
    assert_eq!(
        out.len() as u64,
        cycles,
        "one status line per cycle:\n{text}"
    );
    out
}

/// Column `i` of per-cycle counts.
fn column(opens: &[Vec<usize>], i: usize) -> Vec<usize> {
    opens.iter().map(|o| o[i]).collect()
}

#[test]
fn an_unchanged_file_and_journal_are_not_read_again() {
    let dir = settled_root(NEVER_FULL);
    let (traced, err) = reads(dir.path(), 5, &["positions_futures.json", "txn-"]);
    let read = per_cycle(&err, 5, &format!("read {POS} ("));
    assert_eq!(read, [true, false, false, false, false], "{err}");
    let kept = per_cycle(&err, 5, "the journal is unchanged: not read");
    assert_eq!(kept, [false, true, true, true, true], "{err}");
    if let Some(opens) = traced {
        let (pos, txn) = (column(&opens, 0), column(&opens, 1));
        assert!(pos[0] >= 1 && txn[0] >= 1, "cycle 1 reads both: {opens:?}");
        assert_eq!(
            pos[1..],
            [0, 0, 0, 0],
            "the positions file is opened in cycle 1 only"
        );
        assert_eq!(
            txn[1..],
            [0, 0, 0, 0],
            "the journal is read in cycle 1 only"
        );
    }
}

#[test]
fn every_file_is_read_again_every_full_check_every_cycles() {
    let dir = settled_root(r#"{"watch": {"full_check_every": 3}}"#);
    let names = ["positions_futures.json", "txn-"];
    let (traced, err) = reads(dir.path(), 7, &names);
    let want = [true, false, false, true, false, false, true];
    let read = per_cycle(&err, 7, &format!("read {POS} ("));
    assert_eq!(read, want, "cycles 1, 4 and 7 read everything:\n{err}");
    if let Some(opens) = traced {
        let opened: Vec<bool> = opens.iter().map(|o| o[0] > 0 && o[1] > 0).collect();
        assert_eq!(opened, want, "positions and journal opened: {opens:?}");
    }
    put(
        dir.path(),
        "config/selfheal.json",
        br#"{"watch": {"full_check_every": 1}}"#,
    );
    let (traced, err) = reads(dir.path(), 3, &names);
    let read = per_cycle(&err, 3, &format!("read {POS} ("));
    assert_eq!(read, [true; 3], "1: every cycle reads everything:\n{err}");
    if let Some(opens) = traced {
        assert!(opens.iter().all(|o| o[0] > 0 && o[1] > 0), "{opens:?}");
    }
}

#[test]
fn the_alert_log_is_read_only_when_it_changed() {
    let dir = settled_root(NEVER_FULL);
    let old = format!("{}\n", now() - 5000);
    put(dir.path(), "logs/.bot_heartbeat", old.as_bytes());
    let (traced, err) = reads(dir.path(), 5, &["operator_alerts.jsonl"]);
    // Cycle 1 appends the alert; cycle 2 reads the log that changed; then nothing changes.
    let kept = per_cycle(&err, 5, "the alert log is unchanged: not read");
    assert_eq!(kept, [false, false, true, true, true], "{err}");
    if let Some(opens) = traced {
        let log = column(&opens, 0);
        assert!(log[0] >= 1 && log[1] >= 1, "{opens:?}");
        assert_eq!(log[2..], [0, 0, 0], "not opened while unchanged: {opens:?}");
    }
    let alerts = crate::support::watch::alerts(dir.path(), "STALE_HEARTBEAT");
    assert_eq!(alerts.len(), 1, "alerted once");
}

#[test]
fn a_heartbeat_going_stale_is_reported_while_nothing_is_read_again() {
    let config = r#"{"watch": {"full_check_every": 100000}, "heartbeats": {"stale_after": "2s"}}"#;
    let dir = settled_root(config);
    let (root, logs) = (dir.path(), tempdir());
    let beat = now();
    put(root, "logs/.bot_heartbeat", format!("{beat}\n").as_bytes());
    let mut w = watch_debug(root, logs.path());
    // Stale once its age exceeds 2 s in whole seconds: from `beat + 3` on.
    let stale = first_after(&mut w, (beat + 3) * 1000 - 1);
    let n = cycle_of(&stale);
    assert_eq!(
        findings_of(&stale, "STALE_HEARTBEAT").len(),
        1,
        "the first cycle after the heartbeat crossed the threshold reports it: {stale}"
    );
    w.wait_cycle(n + 2);
    for c in w.cycles.iter().filter(|c| cycle_of(c) > n) {
        assert_eq!(findings_of(c, "STALE_HEARTBEAT").len(), 1, "{c}");
    }
    let err = w.stderr();
    assert!(
        logged(&err, n, &format!("{POS} unchanged since cycle")),
        "no managed file was read for it:\n{err}"
    );
    assert_eq!(err.matches(": full check (").count(), 1, "{err}");
}

#[test]
fn a_lock_taken_or_released_makes_the_file_read_again() {
    let config = r#"{"watch": {"full_check_every": 100000}, "locks": {"bot_timeout": "0s"}}"#;
    let dir = settled_root(config);
    let (root, logs) = (dir.path(), tempdir());
    let mut w = watch_debug(root, logs.path());
    wait_carried(&mut w, POS);
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(root.join(format!("{POS}.lock")))
        .expect("open the bot's lock");
    lock.lock().expect("take the bot's lock");
    let held = first_after(&mut w, now_ms());
    let n = cycle_of(&held);
    let err = w.stderr();
    assert!(
        logged(
            &err,
            n,
            &format!("read {POS} (its lock is held now, it was free in cycle")
        ),
        "cycle {n} reads it again once the bot holds its lock:\n{err}"
    );
    let again = wait_carried(&mut w, POS);
    assert!(again > n, "carried over again while the lock stays held");
    lock.unlock().expect("release the bot's lock");
    let freed = first_after(&mut w, now_ms());
    let m = cycle_of(&freed);
    let err = w.stderr();
    assert!(
        logged(
            &err,
            m,
            &format!("read {POS} (its lock is free now, it was held in cycle")
        ),
        "cycle {m} reads it again once the lock is released:\n{err}"
    );
    assert_eq!(err.matches(": full check (").count(), 1, "{err}");
}

/// A positions file cut inside its last record: a paper-mode heal salvages it with a loss,
/// which real mode waits to see acknowledged.
fn cut_positions() -> Vec<u8> {
    let rec = |i: usize| {
        format!("{{\"symbol\": \"BTC-USDT\", \"direction\": \"LONG\", \"strategy\": \"s{i}\", \"entry_price\": 100.1, \"size\": 3.5, \"leverage\": 2}}")
    };
    let doc = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": [{}, {}]}}",
        rec(0),
        rec(1),
        rec(2)
    );
    doc.as_bytes()[..doc.len() - 30].to_vec()
}

#[test]
fn an_ack_between_cycles_is_seen_on_the_next_cycle() {
    let dir = tempdir();
    let root = dir.path();
    put(root, "config/selfheal.json", NEVER_FULL.as_bytes());
    put(root, POS, &cut_positions());
    let run = selfheal(root, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let txn = run.json["transaction"]
        .as_u64()
        .expect("the salvage's transaction");
    std::thread::sleep(Duration::from_secs(3));
    let evidence = format!("unacknowledged salvage in transaction {txn}");
    let waiting = |c: &Value| {
        findings_of(c, "DATA_INTEGRITY")
            .iter()
            .any(|f| f["evidence"] == evidence.as_str())
    };
    let logs = tempdir();
    let mut w = watch_debug(root, logs.path());
    let carried = wait_carried(&mut w, POS);
    assert!(
        logged(&w.stderr(), carried, "the journal is unchanged: not read"),
        "{}",
        w.stderr()
    );
    let c = w.cycles.last().cloned().unwrap_or_default();
    assert!(waiting(&c), "the salvage waits for an acknowledgement: {c}");
    let ack = selfheal(root, &["ack", &txn.to_string()]);
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    let next = first_after(&mut w, now_ms());
    assert!(
        !waiting(&next),
        "the first cycle after the ack sees it: {next}"
    );
    let n = cycle_of(&next);
    let err = w.stderr();
    assert!(
        !logged(&err, n, "the journal is unchanged"),
        "the journal that changed is read again:\n{err}"
    );
}

#[test]
fn full_check_every_must_be_at_least_one() {
    let dir = tempdir();
    put(
        dir.path(),
        "config/selfheal.json",
        br#"{"watch": {"full_check_every": 0}}"#,
    );
    let run = selfheal(dir.path(), &["watch", "--cycles", "1"]);
    assert_eq!(run.code, 16, "{}", run.stderr);
    assert!(
        run.stderr.contains("watch.full_check_every"),
        "{}",
        run.stderr
    );
}
