//! Hygiene at the edges of the root: an alert log with a second name (a hard link that may
//! lie outside the root) is never appended to; the journal key file is found beside the
//! configuration, never through the working directory, and refused when others may read it
//! or when it lies inside the root; a rolled-back lossy salvage needs no acknowledgement;
//! with `--json` every failure prints one JSON document; a lock file held with a POSIX
//! record lock (`lockf`, `fcntl`) is held, like one held with `flock`.

use crate::support::arena::{summary, Arena};
use crate::support::{code, stderr};
use serde_json::Value;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A positions file of 2 open and 3 closed records, cut inside the last closed one: its
/// salvage loses a record.
fn truncated_positions(a: &Arena) -> Vec<u8> {
    let rec = |i: usize| {
        format!("{{\"symbol\": \"BTC-USDT\", \"direction\": \"LONG\", \"strategy\": \"s{i}\", \"entry_price\": 100.1, \"size\": 35.2, \"leverage\": 2, \"order_id\": \"o{i}\"}}")
    };
    let open: Vec<String> = (0..2).map(rec).collect();
    let closed: Vec<String> = (2..5).map(rec).collect();
    let doc = format!(
        "{{\"open_positions\": [{}], \"closed_positions\": [{}]}}",
        open.join(", "),
        closed.join(", ")
    );
    let bytes = doc.as_bytes()[..doc.len() - 50].to_vec();
    a.fx.write("logs/positions_futures.json", &bytes);
    a.fx.write(
        "logs/portfolio_futures.json",
        "{\"open_positions_count\": 2}",
    );
    bytes
}

fn texts(v: &Value, key: &str) -> String {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn reliability_hygiene_alert_log_with_a_second_name_is_never_appended_to() {
    let _part = summary::Part::start();
    let mut a = Arena::new();
    assert_eq!(code(&a.run(&["heal"])), 0);
    let outside = a.aux("elsewhere.jsonl");
    std::fs::write(&outside, b"not selfheal's\n").expect("write");
    let log = a.root().join("logs/operator_alerts.jsonl");
    let _ = std::fs::remove_file(&log);
    std::fs::hard_link(&outside, &log).expect("hard link");
    // Something more to alert about: a stale JSON heartbeat.
    a.fx.write("state/heartbeats/engine.json", "{\"last_heartbeat_ts\": 1}");
    a.seal();
    let mut cases = 0;
    for args in [
        &["--json", "check"][..],
        &["--json", "heal", "--mode", "real"],
        &["--json", "heal", "--mode", "paper"],
        &["--json", "watch", "--cycles", "1", "--interval", "0s"],
    ] {
        let out = a.run(args);
        let err = stderr(&out);
        assert!(matches!(code(&out), 0 | 1 | 4), "{args:?}: {err}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ALERT_LOG") && text.contains("hard links"),
            "{args:?}: the report names the unsafe alert log: {text}"
        );
        if args[1] != "check" {
            assert!(
                err.contains("alert not appended") && err.contains("\"category\":\"ALERT_LOG\""),
                "{args:?}: the alerts go to stderr: {err}"
            );
        }
        assert_eq!(
            std::fs::read(&outside).expect("read"),
            b"not selfheal's\n",
            "{args:?}: nothing reached the file's other name"
        );
        cases += 1;
    }
    summary::count("hard-linked alert logs", cases);
}

/// Writes a key file with `mode`.
fn key(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn reliability_hygiene_relative_key_file_is_beside_the_configuration() {
    let _part = summary::Part::start();
    let a = Arena::new();
    key(&a.aux("journal.key"), b"the right key", 0o600);
    let cfg = a.config(r#"{"journal_key_file": "journal.key"}"#);
    let cfg = cfg.to_str().expect("utf8");
    // Another directory as the working directory: it holds no key (or another one).
    let cwd = a.aux("cwd");
    std::fs::create_dir(&cwd).expect("mkdir");
    let run = |args: &[&str]| {
        let mut c = a.cmd(args);
        c.current_dir(&cwd);
        a.output(&mut c)
    };
    let out = run(&["--config", cfg, "heal", "--init"]);
    assert_eq!(
        code(&out),
        0,
        "the key beside the configuration: {}",
        stderr(&out)
    );
    key(&cwd.join("journal.key"), b"a wrong key", 0o600);
    let out = run(&["--config", cfg, "heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The same key named absolutely verifies what was written.
    let abs = a.aux("abs.json");
    let text = format!(
        "{{\"journal_key_file\": {}}}",
        serde_json::to_string(a.aux("journal.key").to_str().expect("utf8")).expect("json")
    );
    std::fs::write(&abs, text).expect("write");
    let out = a.run(&["--config", abs.to_str().expect("utf8"), "journal", "verify"]);
    assert_eq!(
        code(&out),
        0,
        "keyed with the key beside the config: {}",
        stderr(&out)
    );
    summary::count("key file checks", 3);
}

#[test]
fn reliability_hygiene_key_file_readable_by_others_or_inside_the_root_is_refused() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(code(&a.run(&["heal"])), 0);
    let cases: [(&str, u32, &str); 4] = [
        ("aux", 0o644, "chmod 600"),
        ("aux", 0o640, "chmod 600"),
        ("aux", 0o604, "chmod 600"),
        ("root", 0o600, "inside the state root"),
    ];
    for (i, (place, mode, needle)) in cases.iter().enumerate() {
        let path = match *place {
            "root" => a.root().join("data/journal.key"),
            _ => a.aux(&format!("k{i}.key")),
        };
        key(&path, b"secret", *mode);
        let text = format!(
            "{{\"journal_key_file\": {}}}",
            serde_json::to_string(path.to_str().expect("utf8")).expect("json")
        );
        let cfg = a.config(&text);
        let cfg = cfg.to_str().expect("utf8");
        let before = crate::support::exact_tree(&a.root());
        for cmd in [&["heal"][..], &["journal", "verify"], &["check"]] {
            let mut args = vec!["--config", cfg];
            args.extend_from_slice(cmd);
            let out = a.run(&args);
            let err = stderr(&out);
            assert_eq!(code(&out), 16, "{place} {mode:o} {cmd:?}: {err}");
            assert!(
                err.contains("journal_key_file") && err.contains(needle),
                "{place} {mode:o}: {err}"
            );
        }
        let after = crate::support::exact_tree(&a.root());
        assert!(before == after, "a refused key writes nothing");
        if *place == "root" {
            std::fs::remove_file(&path).expect("rm");
        }
    }
    summary::count("key file checks", cases.len() as u64);
}

#[test]
fn reliability_hygiene_rolled_back_lossy_salvage_needs_no_ack() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let damaged = truncated_positions(&a);
    let (rc, v) = a.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let salvage = v["transaction"].as_u64().expect("txn").to_string();
    let (rc, v) = a.json(&["rollback", &salvage]);
    assert_eq!(rc, 0, "{v}");
    let rollback = v["transaction"].as_u64().expect("txn").to_string();
    assert_eq!(a.fx.read("logs/positions_futures.json"), damaged);
    // The operator repairs the file by hand: real mode may start, nothing to acknowledge.
    let good = r#"{"open_positions": [], "closed_positions": []}"#;
    a.fx.write("logs/positions_futures.json", good);
    a.fx.write("logs/portfolio_futures.json", "{\"used_margin\": 0.0}");
    let (rc, v) = a.json(&["heal", "--mode", "real"]);
    let said = format!("{}\n{}", texts(&v, "critical"), texts(&v, "warnings"));
    assert!(
        !said.contains(&format!(" ack {salvage}`")),
        "a rolled-back salvage needs no acknowledgement: {said}"
    );
    assert_eq!(rc, 0, "{v}");
    let out = a.run(&["ack", &salvage]);
    assert_eq!(code(&out), 16, "nothing to acknowledge: {}", stderr(&out));
    // The same on a run the journal's index serves (the rollback is in an older file).
    assert_eq!(a.json(&["heal", "--mode", "real"]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    assert_eq!(
        a.json(&["heal", "--mode", "real"]).0,
        0,
        "the index is written"
    );
    let out = a.run(&["-vv", "--json", "heal", "--mode", "real"]);
    assert!(
        stderr(&out).contains("journal read from its index"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    // Rolling the rollback back brings the salvage, and the need for an ack, back.
    let (rc, v) = a.json(&["rollback", &rollback, "--force"]);
    assert_eq!(rc, 0, "{v}");
    let (rc, v) = a.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert!(
        texts(&v, "critical").contains(&format!(" ack {salvage}`")),
        "{v}"
    );
    let out = a.run(&["ack", &salvage]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    summary::count("acks after rollbacks", 2);
}

#[test]
fn reliability_hygiene_json_errors_are_one_document_on_stdout() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(code(&a.run(&["heal"])), 0);
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["--json", "bogus"], 16),
        (vec!["--json", "rollback", "abc"], 16),
        (vec!["rollback", "--json", "1", "2"], 16),
        (vec!["--json", "--lock-timeout", "soon", "heal"], 16),
        (vec!["--json"], 16),
        (vec!["--json", "journal"], 16),
        (vec!["--json", "heal", "--mode", "maybe"], 16),
        (vec!["--json", "rollback", "99"], 16),
        (vec!["--json", "journal", "show", "99"], 16),
    ];
    // A missing root (8), from an arena without one.
    let gone = Arena::without_root();
    let missing: Vec<(Vec<&str>, i32)> = vec![
        (vec!["--json", "heal"], 8),
        (vec!["--json", "journal", "list"], 8),
    ];
    let all = cases
        .iter()
        .map(|c| (&a, c))
        .chain(missing.iter().map(|c| (&gone, c)));
    for (arena, (args, want)) in all {
        let out = arena.run(args);
        assert_eq!(code(&out), *want, "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{args:?}: stdout is not one JSON document ({e}): {text:?}")
        });
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{args:?}: {v}"
        );
        assert_eq!(v["exit_code"], *want, "{args:?}: {v}");
    }
    // The lock wait timing out (32): selfheal's lock is held by this test.
    let dir = std::fs::File::open(a.root().join("logs/backups")).expect("open");
    dir.lock().expect("flock");
    let out = a.run(&["--json", "--lock-timeout", "100ms", "heal"]);
    drop(dir);
    assert_eq!(code(&out), 32, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 32, "{v}");
    summary::count("--json failures", (cases.len() + missing.len()) as u64 + 1);
}

/// A process holding a POSIX record lock (`lockf`, shared or exclusive) on `path` until
/// dropped.
struct RecordLock(Child);

impl RecordLock {
    fn hold(path: &Path, exclusive: bool) -> RecordLock {
        let script = "import fcntl, sys\n\
             f = open(sys.argv[1], 'r+')\n\
             fcntl.lockf(f, fcntl.LOCK_EX if sys.argv[2] == 'ex' else fcntl.LOCK_SH)\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .arg(if exclusive { "ex" } else { "sh" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is required by the tests");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "locked");
        RecordLock(child)
    }
}

impl Drop for RecordLock {
    fn drop(&mut self) {
        // End of input ends the holder.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[test]
fn reliability_hygiene_posix_record_locks_are_held() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(code(&a.run(&["heal"])), 0);
    let mut cases = 0;
    for exclusive in [true, false] {
        // A stale lock file held with lockf is never removed at startup.
        let lock = a.root().join("logs/engine.json.lock");
        std::fs::write(&lock, b"").expect("write");
        a.fx.age("logs/engine.json.lock", 7200);
        {
            let _held = RecordLock::hold(&lock, exclusive);
            let (rc, v) = a.json(&["heal", "--mode", "real"]);
            assert_eq!(rc, 0, "{v}");
            assert!(lock.exists(), "a lock held with lockf was removed: {v}");
            assert!(
                texts(&v, "warnings").contains("logs/engine.json.lock is held by ")
                    && !texts(&v, "warnings").contains("not listed in /proc/locks"),
                "{v}"
            );
        }
        cases += 1;
        // watch skips a file whose lock the bot holds with lockf.
        let positions = a.root().join("logs/positions_futures.json");
        std::fs::write(&positions, b"").expect("empty the positions file");
        let plock = a.root().join("logs/positions_futures.json.lock");
        std::fs::write(&plock, b"").expect("write");
        {
            let _held = RecordLock::hold(&plock, exclusive);
            let out = a.run(&["--json", "watch", "--cycles", "1", "--interval", "0s"]);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            let cycle: Value = serde_json::from_slice(&out.stdout).expect("one cycle line");
            assert!(
                crate::support::watch::skipped_locked(&cycle, "logs/positions_futures.json"),
                "watch must skip a file whose lock is held with lockf: {cycle}"
            );
            assert_eq!(std::fs::read(&positions).expect("read"), b"", "untouched");
        }
        let out = a.run(&["--json", "watch", "--cycles", "1", "--interval", "0s"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_ne!(
            std::fs::read(&positions).expect("read"),
            b"",
            "repaired once free"
        );
        cases += 1;
    }
    summary::count("POSIX record locks held", cases);
}
