//! Security: selfheal's own backups and journal are owner-only whatever the umask; no
//! control character from file content reaches the alert log or the terminal; a journal
//! path never leads out of the root, neither by its spelling (`..`, absolute, even with
//! every tag recomputed) nor through a directory swapped for a symlink. Every test also
//! checks, through its arena, that nothing outside the root was written.

use crate::support::arena::{no_raw_control, summary, Arena};
use crate::support::states::damaged;
use crate::support::{code, exact_tree, stderr, Node};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `selfheal args...` with umask 000, so only selfheal's own modes protect what it writes.
fn with_open_umask(a: &Arena, args: &[&str]) -> std::process::Output {
    let mut cmd = crate::support::wrapped("sh", &["-c", "umask 000 && exec \"$@\"", "sh"]);
    cmd.arg("--root").arg(a.root()).args(args);
    a.output(&mut cmd)
}

/// Every directory of selfheal's own under `logs/backups` (journal, objects, torn tails,
/// and below) is 0700 and every file in them 0600; `logs/backups` itself, shared with the
/// bot, is left as it is.
fn owner_only(root: &Path) -> usize {
    let top = root.join("logs/backups");
    let mut checked = 0;
    for dir in ["journal", "objects", "torn"]
        .iter()
        .map(|d| top.join(d))
        .filter(|d| d.is_dir())
    {
        let mode = mode_of(&dir);
        assert_eq!(mode, 0o700, "{}: {mode:o}", dir.display());
        checked += 1;
        for (rel, node) in exact_tree(&dir) {
            let at = dir.join(rel);
            match node {
                Node::Dir { mode } => assert_eq!(mode, 0o700, "{}: {mode:o}", at.display()),
                Node::File { mode, .. } => assert_eq!(mode, 0o600, "{}: {mode:o}", at.display()),
                other => panic!(
                    "{}: only files and directories, not {other:?}",
                    at.display()
                ),
            }
            checked += 1;
        }
    }
    checked
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("lstat")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn backups_and_journal_are_owner_only_whatever_the_umask() {
    let _summary = summary::Part::start();
    let mut a = Arena::new();
    let cfg = damaged(&a.fx);
    a.seal();
    let cfg = cfg.to_str().expect("utf8");
    let out = with_open_umask(&a, &["--config", cfg, "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = with_open_umask(&a, &["--config", cfg, "rollback", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A torn tail, saved aside by the next run; then a prune and its checkpoint.
    let newest = a.root().join("logs/backups/journal/txn-0000000002.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .expect("open");
    std::io::Write::write_all(&mut f, b"{\"v\":1,\"seq\":99").expect("tear");
    let out = with_open_umask(&a, &["--config", cfg, "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        a.root().join("logs/backups/torn").is_dir(),
        "the torn tail was saved"
    );
    let out = with_open_umask(
        &a,
        &[
            "--config",
            cfg,
            "prune",
            "--keep",
            "1",
            "--older-than",
            "0s",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let checked = owner_only(&a.root());
    assert!(checked > 10, "{checked} paths checked");
    // Created by selfheal as the bot creates it: shared, not owner-only.
    assert_eq!(mode_of(&a.root().join("logs/backups")), 0o755);
}

#[test]
fn loosened_backups_are_tightened_back() {
    let _summary = summary::Part::start();
    let mut a = Arena::new();
    let cfg = damaged(&a.fx);
    a.seal();
    let cfg = cfg.to_str().expect("utf8");
    assert_eq!(code(&a.run(&["--config", cfg, "heal"])), 0);
    let loosen = |rel: &str, mode: u32| {
        std::fs::set_permissions(a.root().join(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    };
    loosen("logs/backups", 0o777);
    loosen("logs/backups/journal", 0o755);
    loosen("logs/backups/journal/txn-0000000001.jsonl", 0o666);
    let (rc, v) = a.json(&["--config", cfg, "heal"]);
    assert_eq!(rc, 0, "{v}");
    owner_only(&a.root());
    // The shared directory is the bot's too: reported, never changed.
    assert_eq!(mode_of(&a.root().join("logs/backups")), 0o777);
    let reported: Vec<&Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "INSECURE_PERMISSIONS")
        .collect();
    assert_eq!(reported.len(), 1, "{v}");
    assert_eq!(reported[0]["path"], "logs/backups");
}

/// State files whose content carries terminal escapes (CSI, OSC), BEL, C1 and raw bytes.
fn poisoned(a: &Arena) {
    a.fx.write(
        "logs/positions_futures.json",
        concat!(
            r#"{"open_positions": ["#,
            r#"{"symbol": "BTC\u001b[31mUSDT\u0007\u009b2J", "direction": "LONG", "strategy": "s\u001b]0;owned\u0007", "entry_price": 1, "size": 1, "leverage": 1},"#,
            r#"{"symbol": "BTC\u001b[31mUSDT\u0007\u009b2J", "direction": "LONG", "strategy": "s\u001b]0;owned\u0007", "entry_price": 1, "size": 1, "leverage": 1},"#,
            r#"{"symbol": "ETH\r\u001b[2K", "direction": "UP\u001b[5m", "strategy": "x", "entry_price": -1, "size": 1, "leverage": 1}"#,
            r#"], "closed_positions": []}"#
        ),
    );
    a.fx.write(
        "logs/portfolio_futures.json",
        r#"{"open_positions_count": 7, "note\u001b[1m": "x\u001b[31my", "snapshots": [{"a": "\u009b2J"}]}"#,
    );
    a.fx.write(
        "state/heartbeats/bot.json",
        r#"{"component": "c\u001b[2Jz", "last_heartbeat_ts": 1, "last_heartbeat_dt": "x\u001b", "metadata": {"k\u001b": "v\u0007"}}"#,
    );
    a.fx.write("logs/.bot_heartbeat", b"12\x1b[31m\x07");
    a.fx.write("logs/x.lock", b"\x1b[31m123\x9b");
    a.fx.age("logs/x.lock", 86_400);
    a.fx.write("logs/a\u{1b}[31mb.lock", "");
    a.fx.age("logs/a\u{1b}[31mb.lock", 86_400);
    a.fx.write(
        "state/heartbeats/raw.json",
        b"{\"component\": \"\x1b[31m\xff\x07\"}",
    );
}

/// Every string in `v`, keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn control_characters_from_file_content_never_reach_the_alert_log_or_the_terminal() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    poisoned(&a);
    let commands: [&[&str]; 11] = [
        &["heal", "--mode", "real"],
        &["--json", "heal", "--mode", "real"],
        &["heal"],
        &["--json", "heal"],
        &["check", "--mode", "real"],
        &["--json", "check"],
        &["journal", "list"],
        &["journal", "show", "1"],
        &["--json", "journal", "show", "1"],
        &["journal", "verify"],
        &["stats"],
    ];
    for args in commands {
        let out = a.run(args);
        assert!(code(&out) != 101, "{args:?}");
        no_raw_control(&out.stdout, &format!("stdout of {args:?}"));
        no_raw_control(&out.stderr, &format!("stderr of {args:?}"));
        // A report's strings are messages, cleaned; `journal show` gives the exact values
        // a heal replaced (an audit), which JSON escaping alone keeps off the terminal.
        if args.contains(&"--json") && !args.contains(&"show") {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            let mut all = Vec::new();
            strings(&v, &mut all);
            for s in all {
                assert!(!s.chars().any(char::is_control), "{args:?}: decoded {s:?}");
            }
        }
    }
    let log = std::fs::read(a.root().join("logs/operator_alerts.jsonl")).expect("alerts");
    no_raw_control(&log, "the alert log");
    let mut lines = 0;
    for line in log.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).expect("an alert is JSON");
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in all {
            assert!(
                !s.chars().any(char::is_control),
                "an alert decodes to {s:?}"
            );
        }
        lines += 1;
    }
    assert!(lines >= 2, "the criticals were alerted ({lines} lines)");
}

#[cfg(feature = "fault-injection")]
mod journal_paths {
    use super::*;
    use crate::support::arena::trace;
    use journal_format::{self as jf, Body, Mac};

    /// A heal interrupted after it reset a stale heartbeat in `state/heartbeats/` (the
    /// last operation), before its commit: an unfinished transaction whose last intent
    /// names that file. Returns the arena and the heartbeat's path.
    pub fn interrupted(a: &Arena) -> &'static str {
        let hb = "state/heartbeats/bot.json";
        a.fx.write(
            hb,
            r#"{"component": "bot", "last_heartbeat_ts": 1, "metadata": {}}"#,
        );
        let copy = Arena::copy_of(a);
        let points = trace(&copy, &["heal"]);
        let commit = points
            .iter()
            .rposition(|p| p.kind == "Append" && p.path.contains("journal/txn-"))
            .expect("the commit append");
        let out = a.output(
            a.cmd(&["heal"])
                .env("SELFHEAL_FAULT", format!("{}:crash", points[commit].n)),
        );
        assert_eq!(code(&out), -6, "{}", stderr(&out));
        hb
    }

    /// Rewrites every intent path `from` to `to` in the (only) journal file, recomputing
    /// every tag so that the chain itself is intact.
    fn retarget(root: &Path, from: &str, to: &str) {
        let file = root.join("logs/backups/journal/txn-0000000001.jsonl");
        let bytes = std::fs::read(&file).expect("read");
        let decoded = jf::decode_file(&bytes, &Mac::Sha256, Some(1));
        assert!(decoded.error.is_none(), "{:?}", decoded.error);
        let mut out = Vec::new();
        let mut prev = jf::Digest::GENESIS;
        for e in decoded.entries {
            let mut r = e.record;
            if let Body::Intent(i) = &mut r.body {
                if i.path.as_deref() == Some(from) {
                    i.path = Some(to.to_string());
                }
            }
            if let Body::Begin(b) = &mut r.body {
                for p in &mut b.plan {
                    if p.path.as_deref() == Some(from) {
                        p.path = Some(to.to_string());
                    }
                }
            }
            r.prev = prev;
            let line = jf::encode(&r, &Mac::Sha256).expect("encode");
            prev = line.tag;
            out.extend_from_slice(&line.bytes);
        }
        std::fs::write(&file, out).expect("write");
    }

    #[test]
    fn a_journal_path_out_of_the_root_is_refused_even_with_valid_tags() {
        let _summary = summary::Part::start();
        for escape in [
            "../sentinel/state/heartbeats/bot.json",
            "/sentinel-absolute/x.json",
        ] {
            let mut a = Arena::new();
            let hb = interrupted(&a);
            let to = if escape.starts_with('/') {
                a.sentinel_dir()
                    .join("state/heartbeats/bot.json")
                    .display()
                    .to_string()
            } else {
                escape.to_string()
            };
            retarget(&a.root(), hb, &to);
            a.seal();
            let pre = a.snapshot();
            let out = a.run(&["journal", "verify"]);
            assert_eq!(code(&out), 4, "{to}: {}", stderr(&out));
            let out = a.run(&["recover"]);
            assert_eq!(code(&out), 4, "{to}: recover refuses: {}", stderr(&out));
            let (rc, v) = a.json(&["heal", "--mode", "real"]);
            assert_eq!(rc, 4, "{to}: {v}");
            assert!(
                v["critical"].to_string().contains("JOURNAL_INTEGRITY"),
                "{v}"
            );
            assert_eq!(a.snapshot(), pre, "{to}: nothing changed");
        }
    }

    #[test]
    fn recovery_does_not_follow_a_directory_swapped_for_a_symlink() {
        let _summary = summary::Part::start();
        let mut a = Arena::new();
        let hb = interrupted(&a);
        // The reset heartbeat is the intent's `after`: put exactly it outside, then swap
        // `state` for a link there. Following the link, recovery would undo the reset
        // in the sentinel tree.
        let healed = std::fs::read(a.root().join(hb)).expect("read");
        std::fs::write(a.sentinel_dir().join(hb), &healed).expect("plant");
        std::fs::rename(a.root().join("state"), a.aux("state-moved")).expect("move");
        std::os::unix::fs::symlink(a.sentinel_dir().join("state"), a.root().join("state"))
            .expect("symlink");
        a.seal();
        let out = a.run(&["recover"]);
        assert_eq!(
            code(&out),
            4,
            "a conflict, not a write through the link: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("JOURNAL_INTEGRITY"),
            "{}",
            stderr(&out)
        );
        let out = a.run(&["heal", "--mode", "real"]);
        assert_eq!(code(&out), 4, "{}", stderr(&out));
        assert_eq!(
            std::fs::read(a.sentinel_dir().join(hb)).expect("read"),
            healed
        );
    }
}
