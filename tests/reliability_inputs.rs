//! The bad-input catalogue, one test per input: every managed path as a directory, a FIFO
//! or a symlink (inside the root, outside it, dangling, a loop); empty, huge, deeply
//! nested, non-UTF-8 and unusable JSON; odd names; read-only files; a missing root or
//! config; a damaged journal or backup store. In every case: no panic, a clear finding or
//! error naming what is wrong, the exit code the README gives, no original byte lost,
//! nothing written outside the root (the arena's sentinel check).

use crate::support::arena::{lost_bytes, no_raw_control, summary, Arena};
use crate::support::{code, stderr, Node, Snapshot};
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
    let _summary = summary::Part::start();
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
    let _summary = summary::Part::start();
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
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::Dir);
}

#[test]
fn managed_paths_as_fifos() {
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::Fifo);
}

#[test]
fn managed_paths_as_symlinks_inside_the_root() {
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::LinkInside);
}

#[test]
fn managed_paths_as_symlinks_outside_the_root() {
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::LinkOutside);
}

#[test]
fn managed_paths_as_dangling_symlinks() {
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::Dangling);
}

#[test]
fn managed_paths_as_symlink_loops() {
    let _summary = summary::Part::start();
    every_managed_path_as(Odd::Loop);
}

const POSITIONS: &str = "logs/positions_futures.json";

/// Whether the report or the actions name `rel`.
fn names(v: &Value, rel: &str) -> bool {
    said(v).contains(rel)
        || v["actions"].to_string().contains(rel)
        || v["healed"].to_string().contains(rel)
}

/// Positions bytes that cannot be used as they are. In either mode the file is reported
/// and its original bytes are never lost: still in place, or in the backup store with a
/// journal record naming them (paper mode may apply a salvage; real mode never applies a
/// lossy one). `never_rewritten`: syntactically valid JSON that cannot be used (CONTRACT:
/// a DATA_INTEGRITY finding, never rewritten, in both modes).
fn unusable_positions(bytes: &[u8], never_rewritten: bool) {
    for mode in ["paper", "real"] {
        let a = Arena::new();
        a.fx.write(POSITIONS, bytes);
        let pre = a.snapshot();
        let (rc, v, err) = heal(&a, mode, &[]);
        let what = format!("{mode} mode");
        let critical = said(&v).contains("DATA_INTEGRITY") && names(&v, POSITIONS);
        match mode {
            "paper" => assert_eq!(rc, 0, "{what}: {v}\n{err}"),
            _ => assert!(rc == 0 || (rc == 4 && critical), "{what}: {v}\n{err}"),
        }
        assert!(names(&v, POSITIONS), "{what}: the file is reported: {v}");
        if never_rewritten {
            assert!(critical, "{what}: a DATA_INTEGRITY finding: {v}");
            assert_eq!(a.fx.read(POSITIONS), bytes, "{what}: never rewritten");
            assert_eq!(rc, if mode == "real" { 4 } else { 0 }, "{what}");
        }
        assert_eq!(lost_bytes(&pre, &a.root()), 0, "{what}: bytes lost");
        let again = a.run(&["journal", "verify"]);
        assert_eq!(code(&again), 0, "{what}: {}", stderr(&again));
    }
    inputs(1);
}

#[test]
fn a_million_nested_brackets_unterminated() {
    let _summary = summary::Part::start();
    unusable_positions(&vec![b'['; 1_000_000], false);
}

#[test]
fn a_million_nested_brackets_balanced() {
    let _summary = summary::Part::start();
    let mut bytes = vec![b'['; 1_000_000];
    bytes.extend(std::iter::repeat_n(b']', 1_000_000));
    unusable_positions(&bytes, true);
}

#[test]
fn invalid_utf8() {
    let _summary = summary::Part::start();
    let bytes = b"{\"open_positions\": [{\"symbol\": \"BTC\xff\xfeUSDT\", \"direction\": \"LONG\", \"strategy\": \"s\", \"entry_price\": 1, \"size\": 1, \"leverage\": 1}], \"closed_positions\": []}";
    unusable_positions(bytes, false);
}

#[test]
fn truncated_json() {
    let _summary = summary::Part::start();
    let full = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 1, "size": 1, "leverage": 1}, {"symbol": "ETHUSDT", "direction": "SHORT", "strategy": "s", "entry_price": 2, "size": 3, "leverage": 2}], "closed_positions": []}"#;
    unusable_positions(&full.as_bytes()[..full.len() * 2 / 3], false);
}

#[test]
fn number_1e400() {
    let _summary = summary::Part::start();
    let bytes = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 1e400, "size": 1, "leverage": 1}], "closed_positions": []}"#;
    unusable_positions(bytes.as_bytes(), true);
}

#[test]
fn duplicate_keys() {
    let _summary = summary::Part::start();
    let bytes = r#"{"open_positions": [], "open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 1, "size": 1, "leverage": 1}], "closed_positions": []}"#;
    unusable_positions(bytes.as_bytes(), true);
}

#[test]
fn zero_byte_files() {
    let _summary = summary::Part::start();
    let files = [
        POSITIONS,
        "logs/portfolio_futures.json",
        "logs/.bot_heartbeat",
        "state/heartbeats/bot.json",
        "logs/positions_futures.json.lock",
        "logs/operator_alerts.jsonl",
    ];
    let a = Arena::new();
    for rel in files {
        a.fx.write(rel, "");
    }
    let pre = a.snapshot();
    let (rc, v, err) = heal(&a, "paper", &[]);
    assert_eq!(rc, 0, "{v}\n{err}");
    for rel in [
        POSITIONS,
        "logs/portfolio_futures.json",
        "logs/.bot_heartbeat",
    ] {
        assert!(names(&v, rel), "{rel} is healed or reported: {v}");
    }
    let (rc, v, _) = heal(&a, "real", &[]);
    assert_eq!(rc, 0, "once healed, real mode starts: {v}");
    assert_eq!(lost_bytes(&pre, &a.root()), 0);
    inputs(files.len());
}

#[test]
fn a_2gib_sparse_file_over_the_size_cap() {
    let _summary = summary::Part::start();
    let mut a = Arena::new();
    let cfg = a.config(r#"{"limits": {"max_file_size": "64MiB"}}"#);
    a.seal();
    a.fx.mkdir("logs");
    let big = a.root().join(POSITIONS);
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(2 << 30))
        .expect("sparse file");
    let before = std::fs::metadata(&big).expect("stat");
    let cfg = cfg.to_str().expect("utf8");
    for (mode, want) in [("paper", 0), ("real", 4)] {
        // At most 256 MiB of address space: reading the file whole would fail.
        let mut cmd =
            crate::support::wrapped("sh", &["-c", "ulimit -v 262144 && exec \"$@\"", "sh"]);
        cmd.args(["--root", a.root().to_str().expect("utf8"), "--config", cfg])
            .args(["--json", "heal", "--mode", mode]);
        let out = a.output(&mut cmd);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(code(&out), want, "{mode}: {v}\n{}", stderr(&out));
        let failed = v["failed"].to_string();
        assert!(
            failed.contains(POSITIONS) && failed.contains("over the size limit 67108864"),
            "{mode}: a failed heal with the reason: {v}"
        );
    }
    let after = std::fs::metadata(&big).expect("stat");
    assert_eq!(after.len(), 2 << 30);
    assert_eq!(
        after.modified().ok(),
        before.modified().ok(),
        "never touched"
    );
    inputs(1);
}

#[test]
fn a_root_that_does_not_exist() {
    let _summary = summary::Part::start();
    let a = Arena::without_root();
    for args in [
        &["heal"][..],
        &["check"],
        &["rollback", "1"],
        &["recover"],
        &["journal", "verify"],
    ] {
        let out = a.run(args);
        assert_eq!(code(&out), 8, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("does not exist"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!a.root().exists(), "{args:?} must not create the root");
    }
    inputs(1);
}

#[test]
fn a_root_that_is_a_file() {
    let _summary = summary::Part::start();
    let a = Arena::without_root();
    std::fs::write(a.root(), "not a directory\n").expect("write");
    for args in [
        &["heal"][..],
        &["check"],
        &["recover"],
        &["journal", "verify"],
    ] {
        let out = a.run(args);
        assert_eq!(code(&out), 8, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not a directory"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(a.root()).expect("read"), b"not a directory\n");
    inputs(1);
}

#[test]
fn an_unreadable_config() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    let aux = |n: &str| a.aux(n);
    std::fs::create_dir(aux("dir.json")).expect("mkdir");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        aux("fifo.json"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    std::fs::write(
        aux("latin1.json"),
        b"{\"limits\": {\"max_file_size\": \"64\xb5B\"}}",
    )
    .expect("w");
    std::fs::write(aux("empty.json"), b"").expect("w");
    std::fs::write(aux("broken.json"), b"{\"limits\": ").expect("w");
    std::os::unix::fs::symlink("nowhere.json", aux("dangling.json")).expect("symlink");
    std::fs::File::create(aux("huge.json"))
        .and_then(|f| f.set_len(1 << 30))
        .expect("huge");
    let names = [
        "dir", "fifo", "latin1", "empty", "broken", "dangling", "huge",
    ];
    for n in names {
        let cfg = aux(&format!("{n}.json"));
        let cfg = cfg.to_str().expect("utf8");
        for cmd in ["heal", "check"] {
            let out = a.run(&["--config", cfg, cmd]);
            assert_eq!(code(&out), 16, "{n} {cmd}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(cfg),
                "{n}: names the file: {}",
                stderr(&out)
            );
        }
        assert!(
            std::fs::read_dir(a.root()).expect("ls").next().is_none(),
            "{n}: nothing written in the root"
        );
    }
    inputs(names.len());
}

#[test]
fn read_only_files_and_directories() {
    let _summary = summary::Part::start();
    // As root, permission bits do not stop a write: the heal proceeds and keeps every
    // mode exactly (EACCES itself is injected in reliability_faults).
    let a = Arena::new();
    a.fx.write(POSITIONS, "");
    a.fx.write("logs/portfolio_futures.json", "{}");
    a.fx.write("state/heartbeats/bot.json", "{\"last_heartbeat_ts\": 1}");
    a.fx.chmod(POSITIONS, 0o444);
    a.fx.chmod("logs/portfolio_futures.json", 0o400);
    a.fx.chmod("state/heartbeats/bot.json", 0o444);
    a.fx.chmod("state/heartbeats", 0o555);
    a.fx.chmod("state", 0o555);
    let pre = a.snapshot();
    let (rc, v, err) = heal(&a, "paper", &[]);
    assert_eq!(rc, 0, "{v}\n{err}");
    let mode = |rel: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(a.root().join(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(POSITIONS), 0o444, "a replaced file keeps its mode");
    assert_eq!(mode("logs/portfolio_futures.json"), 0o400);
    assert_eq!(mode("state/heartbeats/bot.json"), 0o444);
    assert_eq!(mode("state/heartbeats"), 0o555);
    assert_eq!(mode("state"), 0o555);
    assert_eq!(lost_bytes(&pre, &a.root()), 0);
    let id = v["transaction"].as_u64().expect("txn").to_string();
    let out = a.run(&["rollback", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The bot's lock files of the two managed files rewritten in place were created for the
    // rewrite, as the bot's own helper creates them (not journaled, so they stay): empty,
    // 0644. Everything else is rolled back exactly.
    let mut after = a.snapshot();
    for lock in [
        "logs/positions_futures.json.lock",
        "logs/portfolio_futures.json.lock",
    ] {
        let node = after.remove(lock);
        assert!(
            matches!(&node, Some(Node::File { mode: 0o644, bytes, .. }) if bytes.is_empty()),
            "{lock}: {node:?}"
        );
    }
    assert_eq!(after, pre, "rolled back exactly, modes included");
    inputs(5);
}

/// A root with two transactions: a heal (an empty positions file, missing directories)
/// and its rollback. Returns the arena and the two journal files' paths, oldest first.
fn two_transactions() -> (Arena, [std::path::PathBuf; 2]) {
    let a = Arena::new();
    a.fx.write(POSITIONS, "");
    a.fx.age(POSITIONS, 3_600);
    let (rc, v, err) = heal(&a, "paper", &[]);
    assert_eq!(rc, 0, "{v}\n{err}");
    let out = a.run(&["rollback", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = a.root().join("logs/backups/journal");
    let files = [
        dir.join("txn-0000000001.jsonl"),
        dir.join("txn-0000000002.jsonl"),
    ];
    (a, files)
}

/// The journal as `journal verify` reads it, in process (a truncation does not touch the
/// backup objects): (problem, torn tail, records).
fn verify_in_process(root: &std::path::Path) -> (Option<String>, Option<String>, usize) {
    let opts = selfheal::Options {
        root: root.to_path_buf(),
        ..selfheal::Options::default()
    };
    let v = selfheal::commands::journal::verify(&opts, &[]).expect("verify");
    (v.problem, v.torn_tail, v.records)
}

/// Offsets where a line ends (after its `\n`), 0 included.
fn line_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = vec![0];
    ends.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    ends
}

/// The offsets run through the binary: every one with `SELFHEAL_LONG_TESTS=1`, else each
/// line end and the bytes either side of it, and every 97th.
fn cli_offsets(len: usize, ends: &[usize]) -> Vec<usize> {
    if crate::support::arena::long() {
        return (0..=len).collect();
    }
    let mut set = std::collections::BTreeSet::new();
    for e in ends {
        set.extend([e.saturating_sub(1), *e, (e + 1).min(len)]);
    }
    set.extend((0..=len).step_by(97));
    set.into_iter().collect()
}

/// A root with two one-operation transactions (a heal of an empty positions file and its
/// rollback): journal files small enough to be cut at every byte.
fn small_pair() -> (Arena, [std::path::PathBuf; 2]) {
    let a = Arena::new();
    assert_eq!(heal(&a, "paper", &[]).0, 0);
    a.fx.write(POSITIONS, "");
    std::fs::remove_dir_all(a.root().join("logs/backups")).expect("a fresh journal");
    assert_eq!(heal(&a, "paper", &[]).0, 0);
    let out = a.run(&["rollback", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = a.root().join("logs/backups/journal");
    let files = [
        dir.join("txn-0000000001.jsonl"),
        dir.join("txn-0000000002.jsonl"),
    ];
    (a, files)
}

#[test]
fn the_newest_journal_file_truncated_at_every_byte_offset() {
    let _summary = summary::Part::start();
    let (base, [older, newest]) = small_pair();
    let bytes = std::fs::read(&newest).expect("read");
    let older_records = line_ends(&std::fs::read(&older).expect("read")).len() - 1;
    let ends = line_ends(&bytes);
    // Every offset through the library's reader (what `journal verify` runs).
    for off in 0..=bytes.len() {
        std::fs::write(&newest, &bytes[..off]).expect("truncate");
        let (problem, torn, records) = verify_in_process(&base.root());
        let whole = ends.iter().filter(|e| **e <= off).count() - 1;
        assert_eq!(problem, None, "offset {off}: a torn tail is tolerated");
        assert_eq!(
            torn.is_some(),
            !ends.contains(&off),
            "offset {off}: {torn:?}"
        );
        assert_eq!(records, older_records + whole, "offset {off}");
    }
    std::fs::write(&newest, &bytes).expect("restore");
    // A subset (every offset with SELFHEAL_LONG_TESTS=1) through the binary.
    for off in cli_offsets(bytes.len(), &ends) {
        truncated_newest(&base, &newest, &bytes, &ends, off);
    }
    inputs(bytes.len() + 1);
}

/// Heals (real mode) a copy of `base` whose newest journal file is cut to `bytes[..off]`:
/// the tail is cut and saved, recovery decides (a conflict at worst, never an operational
/// error), the journal then verifies and nothing is lost.
fn truncated_newest(
    base: &Arena,
    newest: &std::path::Path,
    bytes: &[u8],
    ends: &[usize],
    off: usize,
) {
    let a = Arena::copy_of(base);
    let file = a
        .root()
        .join(newest.strip_prefix(base.root()).expect("under root"));
    std::fs::write(&file, &bytes[..off]).expect("truncate");
    let pre = a.snapshot();
    let (rc, v, err) = heal(&a, "real", &[]);
    assert!(rc == 0 || rc == 4, "offset {off}: {rc}: {v}\n{err}");
    let out = a.run(&["journal", "verify"]);
    assert_eq!(code(&out), 0, "offset {off}: {}", stderr(&out));
    let last_end = ends.iter().rev().find(|e| **e <= off).copied().unwrap_or(0);
    let torn = saved_torn(&a.root());
    if off == last_end {
        assert!(torn.is_empty(), "offset {off}: nothing torn");
    } else {
        assert_eq!(
            torn,
            vec![bytes[last_end..off].to_vec()],
            "offset {off}: saved"
        );
    }
    assert_eq!(lost_bytes(&pre, &a.root()), 0, "offset {off}");
}

#[test]
fn a_rollback_journal_cut_after_every_record() {
    let _summary = summary::Part::start();
    // Records lost at the end while their changes stayed on disk (a journal cut by hand,
    // or a disk that lied about an fsync): recovery must stop at a conflict, not fail on
    // every run.
    let (base, [_, newest]) = two_transactions();
    let bytes = std::fs::read(&newest).expect("read");
    let ends = line_ends(&bytes);
    for end in &ends {
        truncated_newest(&base, &newest, &bytes, &ends, *end);
        if *end < bytes.len() {
            truncated_newest(&base, &newest, &bytes, &ends, end + 1);
        }
    }
    inputs(2 * ends.len() - 1);
}

/// The torn tails saved under `logs/backups/torn/`.
/// The bytes of every saved torn tail (after its header line, whose length and SHA-256
/// must describe them: these tails are shorter than the part kept).
fn saved_torn(root: &std::path::Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(root.join("logs/backups/torn"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let saved = std::fs::read(e.path()).expect("read torn");
            let nl = saved.iter().position(|&b| b == b'\n').expect("header");
            let header: serde_json::Value =
                serde_json::from_slice(&saved[..nl]).expect("header json");
            let bytes = saved[nl + 1..].to_vec();
            assert_eq!(header["len"], bytes.len() as u64, "{header}");
            assert_eq!(header["saved"], bytes.len() as u64, "{header}");
            bytes
        })
        .collect()
}

#[test]
fn an_older_journal_file_truncated_at_every_byte_offset() {
    let _summary = summary::Part::start();
    let (base, [older, _]) = small_pair();
    let bytes = std::fs::read(&older).expect("read");
    for off in 0..bytes.len() {
        std::fs::write(&older, &bytes[..off]).expect("truncate");
        let (problem, _, _) = verify_in_process(&base.root());
        assert!(
            problem.is_some(),
            "offset {off}: damage before the newest file is corruption"
        );
    }
    std::fs::write(&older, &bytes).expect("restore");
    let ends = line_ends(&bytes);
    for off in cli_offsets(bytes.len(), &ends)
        .into_iter()
        .filter(|o| *o < bytes.len())
    {
        let a = Arena::copy_of(&base);
        let file = a
            .root()
            .join(older.strip_prefix(base.root()).expect("under root"));
        std::fs::write(&file, &bytes[..off]).expect("truncate");
        blocked_by_the_journal(&a, &format!("offset {off}"));
    }
    inputs(bytes.len());
}

/// A damaged journal: `journal verify` exits 4 naming the file, a heal in real mode is
/// blocked by JOURNAL_INTEGRITY and changes nothing, a rollback is refused.
fn blocked_by_the_journal(a: &Arena, what: &str) {
    let pre = a.snapshot();
    let out = a.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "{what}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("logs/backups/journal/txn-"),
        "{what}: {}",
        stderr(&out)
    );
    let (rc, v, err) = heal(a, "real", &[]);
    assert_eq!(rc, 4, "{what}: {v}\n{err}");
    assert!(said(&v).contains("JOURNAL_INTEGRITY"), "{what}: {v}");
    let out = a.run(&["rollback", "1"]);
    assert_eq!(code(&out), 4, "{what}: rollback: {}", stderr(&out));
    assert_eq!(a.snapshot(), pre, "{what}: nothing changed");
}

#[test]
fn journal_records_reordered() {
    let _summary = summary::Part::start();
    let (base, files) = two_transactions();
    for (f, file) in files.iter().enumerate() {
        let lines: Vec<&[u8]> = {
            let bytes = std::fs::read(file).expect("read");
            let v: Vec<Vec<u8>> = bytes
                .split_inclusive(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            Box::leak(Box::new(v)).iter().map(Vec::as_slice).collect()
        };
        for i in 1..lines.len() - 1 {
            let a = Arena::copy_of(&base);
            let mut moved = lines.clone();
            moved.swap(i, i + 1);
            let target = a
                .root()
                .join(file.strip_prefix(base.root()).expect("under root"));
            std::fs::write(&target, moved.concat()).expect("write");
            blocked_by_the_journal(&a, &format!("file {f}, records {i} and {} swapped", i + 1));
            inputs(1);
        }
    }
}

#[test]
fn a_backup_object_swapped_for_another_valid_object() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    a.fx.write(POSITIONS, "");
    a.fx.write("logs/portfolio_futures.json", "{\"realized_pnl\": 1.5}");
    let cfg = a.config(
        r#"{"files": [
        {"path": "logs/positions_futures.json", "role": "positions",
         "required_keys": {"open_positions": [], "closed_positions": []},
         "default": {"open_positions": [], "closed_positions": []},
         "record_arrays": ["open_positions", "closed_positions"]},
        {"path": "logs/portfolio_futures.json", "role": "portfolio",
         "required_keys": {"used_margin": 0.0}, "default": {"used_margin": 0.0}}]}"#,
    );
    let cfg = cfg.to_str().expect("utf8");
    let (rc, v, err) = heal(&a, "paper", &["--config", cfg]);
    assert_eq!(rc, 0, "{v}\n{err}");
    let objects: Vec<std::path::PathBuf> =
        crate::support::exact_tree(&a.root().join("logs/backups/objects"))
            .into_keys()
            .filter(|k| k.ends_with(".zst"))
            .map(|k| a.root().join("logs/backups/objects").join(k))
            .collect();
    assert_eq!(objects.len(), 2, "two originals backed up: {objects:?}");
    std::fs::copy(&objects[1], &objects[0]).expect("swap");
    let pre = a.snapshot();
    let out = a.run(&["journal", "verify"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // The other object's frame declares another size, or the same size and other bytes.
    let named = ["checksum mismatch", "where the journal recorded"];
    assert!(
        named.iter().any(|n| stderr(&out).contains(n)),
        "{}",
        stderr(&out)
    );
    let out = a.run(&["--config", cfg, "rollback", "1"]);
    assert_eq!(code(&out), 4, "rollback refused: {}", stderr(&out));
    assert_eq!(a.snapshot(), pre, "nothing changed");
    inputs(1);
}
#[test]
fn a_journal_entry_that_is_not_a_regular_file() {
    let _summary = summary::Part::start();
    let (base, _) = two_transactions();
    for odd in [Odd::Dir, Odd::Fifo, Odd::LinkInside, Odd::Dangling] {
        let a = Arena::copy_of(&base);
        plant(&a, "logs/backups/journal/txn-0000000003.jsonl", odd, false);
        blocked_by_the_journal(&a, &format!("txn-0000000003.jsonl as {odd:?}"));
        inputs(1);
    }
}
