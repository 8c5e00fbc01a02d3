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
    assert!(
        bad.is_empty(),
        "raw control characters {bad:?} in {what}:\n{text}"
    );
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
    assert!(
        said(&paper).contains("state/heartbeats/x\\ny.json"),
        "{paper}"
    );
    inputs(3);
}

/// What a managed path is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Odd {
    Dir,
    Fifo,
    LinkInside,
    LinkOutside,
    Dangling,
    Loop,
}

/// The state files and directories selfheal checks (default layout), and its own.
const STATE_FILES: &[&str] = &[
    "logs/positions_futures.json",
    "logs/portfolio_futures.json",
    "logs/.bot_heartbeat",
    "state/heartbeats/bot.json",
    "logs/positions_futures.json.lock",
    "logs/operator_alerts.jsonl",
];
const STATE_DIRS: &[&str] = &[
    "config",
    "configs",
    "data",
    "feature_store",
    "state",
    "state/heartbeats",
];
const OWN_DIRS: &[&str] = &[
    "logs",
    "logs/backups",
    "logs/backups/journal",
    "logs/backups/objects",
];
const CONFIG_FILE: &str = "config/selfheal.json";

/// Puts `odd` at `rel` (parents created) in `a`; file-like paths get targets that are
/// files, directory paths targets that are directories.
fn plant(a: &Arena, rel: &str, odd: Odd, is_dir: bool) {
    let p = a.root().join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir -p");
    let name = p.file_name().expect("name").to_owned();
    let inside = if is_dir { "elsewhere" } else { "target.json" };
    if is_dir {
        a.fx.mkdir(inside);
    } else {
        a.fx.write(inside, "{}");
    }
    let outside = a.sentinel_dir().join(rel);
    let outside = if outside.exists() {
        outside
    } else if is_dir {
        a.sentinel_dir().join("data")
    } else {
        a.sentinel_dir().join("notes.txt")
    };
    let link = |target: &std::path::Path| std::os::unix::fs::symlink(target, &p).expect("symlink");
    match odd {
        Odd::Dir => std::fs::create_dir(&p).expect("mkdir"),
        Odd::Fifo => rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .expect("mkfifo"),
        Odd::LinkInside => link(&a.root().join(inside)),
        Odd::LinkOutside => link(&outside),
        Odd::Dangling => link(std::path::Path::new("nowhere")),
        Odd::Loop => link(std::path::Path::new(&name)),
    }
}

/// A positions file with an invalid open position: a critical, so alerts are written.
const CRITICAL_POSITIONS: &str = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": -1, "size": 1, "leverage": 1}], "closed_positions": []}"#;

/// One odd managed path: heal in both modes, never touching it, and say so.
fn odd_path(rel: &str, odd: Odd) {
    let is_dir = STATE_DIRS.contains(&rel) || OWN_DIRS.contains(&rel);
    let a = Arena::new();
    if rel == "logs/operator_alerts.jsonl" {
        a.fx.write("logs/positions_futures.json", CRITICAL_POSITIONS);
    }
    plant(&a, rel, odd, is_dir);
    let pre = a.snapshot();
    let what = format!("{rel} as {odd:?}");
    if OWN_DIRS.contains(&rel) {
        for mode in ["paper", "real"] {
            let (rc, _, err) = heal(&a, mode, &[]);
            assert_eq!(rc, 8, "{what}: selfheal's own directory: {err}");
            assert!(err.contains(&format!("`{rel}`")), "{what}: {err}");
        }
    } else if rel == CONFIG_FILE {
        odd_config(&a, &what, odd);
    } else {
        heal_reports(&a, &pre, rel);
    }
    let now = a.snapshot();
    assert_eq!(now.get(rel), pre.get(rel), "{what}: left exactly as it was");
    assert_eq!(lost_bytes(&pre, &a.root()), 0, "{what}");
    inputs(1);
}

/// The configuration inside the root: read through a symlink like any configuration the
/// operator names (reading is not writing), refused with exit 16 when it cannot be read
/// or is not a configuration (the outside link leads to a text file).
fn odd_config(a: &Arena, what: &str, odd: Odd) {
    let readable = odd == Odd::LinkInside;
    for mode in ["paper", "real"] {
        let (rc, v, err) = heal(a, mode, &[]);
        if readable {
            assert!(rc == 0 || rc == 4, "{what}: {v}\n{err}");
        } else {
            assert_eq!(rc, 16, "{what}: {err}");
            assert!(err.contains(CONFIG_FILE), "{what}: {err}");
        }
    }
}

fn every_managed_path_as(odd: Odd) {
    let dirs_too = odd != Odd::Dir;
    let mut paths: Vec<&str> = STATE_FILES.to_vec();
    paths.push(CONFIG_FILE);
    if dirs_too {
        paths.extend_from_slice(STATE_DIRS);
        paths.extend_from_slice(OWN_DIRS);
    }
    for rel in paths {
        odd_path(rel, odd);
    }
}

#[test]
fn managed_paths_as_directories() {
    every_managed_path_as(Odd::Dir);
}

#[test]
fn managed_paths_as_fifos() {
    every_managed_path_as(Odd::Fifo);
}

#[test]
fn managed_paths_as_symlinks_inside_the_root() {
    every_managed_path_as(Odd::LinkInside);
}

#[test]
fn managed_paths_as_symlinks_outside_the_root() {
    every_managed_path_as(Odd::LinkOutside);
}

#[test]
fn managed_paths_as_dangling_symlinks() {
    every_managed_path_as(Odd::Dangling);
}

#[test]
fn managed_paths_as_symlink_loops() {
    every_managed_path_as(Odd::Loop);
}
