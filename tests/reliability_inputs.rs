//! The bad-input catalogue, one test per input: every managed path as a directory, a FIFO
//! or a symlink (inside the root, outside it, dangling, a loop); empty, huge, deeply
//! nested, non-UTF-8 and unusable JSON; odd names; read-only files; a missing root or
//! config; a damaged journal or backup store. In every case: no panic, a clear finding or
//! error naming what is wrong, the exit code CONTRACT.md gives, no original byte lost,
//! nothing written outside the root (the arena's sentinel check).

use crate::reliability_support::{lost_bytes, summary, Arena};
use crate::util::{code, stderr, Snapshot};
use serde_json::Value;

/// Counts `n` bad inputs in the summary.
fn inputs(n: usize) {
    summary::add(|t| t.bad_inputs += n as u64);
}

/// `heal --mode <mode>` with `--json`, plus its stderr.
fn heal(a: &Arena, mode: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["--json", "heal", "--mode", mode]);
    let out = a.run(&args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    no_raw_control(&out.stdout, "stdout");
    no_raw_control(&out.stderr, "stderr");
    (code(&out), v, stderr(&out))
}

/// Everything the report says went wrong, one line each.
fn said(v: &Value) -> String {
    ["failed", "critical", "warnings"]
        .iter()
        .filter_map(|k| v[*k].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// No byte of `bytes` is a control character other than a newline (a raw ESC, BEL, C1, ...
/// from file content must never reach a terminal or a log line).
pub fn no_raw_control(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "raw control characters {bad:?} in {what}:\n{text}");
}

/// Heals in paper then real mode: paper exits 0, real 0 or 4; the report names `needle`;
/// no byte of `pre` is lost.
fn heal_reports(a: &Arena, pre: &Snapshot, needle: &str) -> (Value, Value) {
    let (rc, paper, err) = heal(a, "paper", &[]);
    assert_eq!(rc, 0, "paper mode always starts: {paper}\n{err}");
    assert!(
        said(&paper).contains(needle),
        "the report must name {needle:?}:\n{}",
        said(&paper)
    );
    let (rc, real, err) = heal(a, "real", &[]);
    assert!(rc == 0 || rc == 4, "real mode: {rc}: {real}\n{err}");
    assert_eq!(lost_bytes(pre, &a.root()), 0, "bytes lost");
    (paper, real)
}

#[test]
fn non_utf8_names() {
    use std::os::unix::ffi::OsStrExt;
    let a = Arena::new();
    a.fx.mkdir("logs");
    a.fx.mkdir("state/heartbeats");
    let odd = |dir: &str, name: &[u8]| {
        let p = a.root().join(dir).join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&p, b"").expect("write");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        f.set_modified(old).expect("age");
    };
    odd("logs", b"\xff\xfe.lock");
    odd("state/heartbeats", b"\xff.json");
    odd("logs", b"notes-\xff.txt");
    std::fs::create_dir(a.root().join(std::ffi::OsStr::from_bytes(b"dir-\xfe"))).expect("mkdir");
    let pre = a.snapshot();
    let (paper, _) = heal_reports(&a, &pre, "UNCHECKED_PATH");
    let text = said(&paper);
    assert!(text.contains("logs/\u{fffd}\u{fffd}.lock"), "{text}");
    assert!(text.contains("state/heartbeats/\u{fffd}.json"), "{text}");
    assert!(text.contains("not valid UTF-8"), "{text}");
    inputs(4);
}

#[test]
fn control_characters_in_names() {
    let a = Arena::new();
    a.fx.write("logs/a\u{1b}[31mb.lock", "");
    a.fx.age("logs/a\u{1b}[31mb.lock", 86_400);
    a.fx.write("state/heartbeats/x\ny.json", "{\"last_heartbeat_ts\": 1}");
    a.fx.write("state/heartbeats/bel\u{7}.json", "{}");
    let pre = a.snapshot();
    let (paper, real) = heal_reports(&a, &pre, "UNCHECKED_PATH");
    for v in [&paper, &real] {
        no_raw_control(v.to_string().as_bytes(), "the JSON report");
        let decoded = said(v);
        assert!(
            !decoded.chars().any(|c| c.is_control() && c != '\n'),
            "{decoded}"
        );
    }
    assert!(said(&paper).contains("logs/a\\u{1b}[31mb.lock"), "{paper}");
    assert!(said(&paper).contains("state/heartbeats/x\\ny.json"), "{paper}");
    inputs(3);
}
