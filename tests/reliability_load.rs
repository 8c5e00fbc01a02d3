//! Load: 16 heals and 4 rollbacks started at once on one root, round after round (5 in
//! CI, 50 with `SELFHEAL_LONG_TESTS=1`): every run ends with a documented exit code, the
//! lock serialises them into whole transactions (the state is wholly healed or wholly
//! rolled back, never a mix), the journal verifies, no temp file is left, nothing is lost.
//! Also the [`Writer`] helper: a process rewriting the positions file under its
//! `<file>.lock` flock at a high rate, as the bot does, which keeps a log of every write so
//! a test can prove none was lost (for the `watch` load tests to come).

use crate::engine_rollback::damaged;
use crate::reliability_support::{
    collect, lost_bytes, output_within, summary, temps_left, Arena, RUN_LIMIT,
};
use crate::util::{code, diff, stderr, without_mtimes};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const HEALS: usize = 16;
const ROLLBACKS: usize = 4;

/// The newest committed heal that applied operations.
fn last_heal_with_work(a: &Arena) -> u64 {
    let (rc, v) = a.json(&["journal", "list"]);
    assert_eq!(rc, 0, "{v}");
    v["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .rev()
        .find(|t| t["command"] == "heal" && t["operations"].as_u64() > Some(0))
        .and_then(|t| t["id"].as_u64())
        .expect("a heal that did work")
}

/// Starts `selfheal args...` without waiting.
fn start(a: &Arena, args: &[String]) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    a.cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// One round: all runs at once; returns how many rollbacks applied and how many waits
/// timed out.
fn round(a: &Arena, cfg: &str, target: u64) -> (usize, usize) {
    let heal: Vec<String> = ["--config", cfg, "--json", "heal"]
        .map(String::from)
        .to_vec();
    let rollback: Vec<String> = ["--config", cfg, "--json", "rollback", &target.to_string()]
        .map(String::from)
        .to_vec();
    let mut children = Vec::new();
    for i in 0..HEALS + ROLLBACKS {
        let is_rollback = i % 5 == 4;
        let args = if is_rollback { &rollback } else { &heal };
        children.push((is_rollback, start(a, args)));
    }
    let (mut rolled_back, mut timed_out) = (0, 0);
    for (is_rollback, child) in children {
        let out = collect(child, RUN_LIMIT);
        crate::reliability_support::observe_run(&out);
        let rc = code(&out);
        let what = if is_rollback { "rollback" } else { "heal" };
        let allowed: &[i32] = if is_rollback { &[0, 4, 32] } else { &[0, 32] };
        assert!(allowed.contains(&rc), "{what}: exit {rc}: {}", stderr(&out));
        if rc == 32 {
            timed_out += 1;
        }
        if is_rollback && rc == 0 {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            rolled_back += usize::from(v["transaction"].is_u64());
        }
    }
    (rolled_back, timed_out)
}

#[test]
fn concurrent_heals_and_rollbacks_on_one_root() {
    let _summary = summary::Part::start();
    let mut a = Arena::new();
    let cfg = damaged(&a.fx);
    a.seal();
    let cfg = cfg.to_str().expect("utf8");
    let pre = a.snapshot();
    let (rc, v) = a.json(&["--config", cfg, "heal"]);
    assert_eq!(rc, 0, "{v}");
    let post = a.snapshot();
    let rounds = if crate::reliability_support::long() {
        50
    } else {
        5
    };
    for r in 0..rounds {
        let target = last_heal_with_work(&a);
        let (rolled_back, timed_out) = round(&a, cfg, target);
        if timed_out == 0 {
            assert_eq!(
                rolled_back, 1,
                "round {r}: exactly one rollback of {target} applies"
            );
        }
        let now = without_mtimes(&a.snapshot());
        assert!(
            now == without_mtimes(&pre) || now == without_mtimes(&post),
            "round {r}: neither wholly rolled back nor wholly healed:\n{}",
            diff(&without_mtimes(&post), &now)
        );
        let out = a.run(&["journal", "verify"]);
        assert_eq!(code(&out), 0, "round {r}: {}", stderr(&out));
        assert!(temps_left(&a.root()).is_empty(), "round {r}: temps left");
        let (rc, v) = a.json(&["--config", cfg, "heal"]);
        assert_eq!(rc, 0, "round {r}: {v}");
        assert!(
            without_mtimes(&a.snapshot()) == without_mtimes(&post),
            "round {r}"
        );
        assert_eq!(lost_bytes(&pre, &a.root()), 0, "round {r}");
        summary::add(|t| {
            t.concurrent_runs += (HEALS + ROLLBACKS) as u64;
            t.rounds += 1;
        });
    }
}

/// A process rewriting the positions file under its `<file>.lock` flock, as the bot does
/// (open, flock, truncate, write, fsync, unlock), `count` times as fast as it can. Each
/// version carries its number in `"seq"`; after each write the number is appended to a log
/// outside the root, so a test knows every write that was made.
pub struct Writer {
    child: Child,
    log: PathBuf,
}

const WRITER: &str = r#"
import fcntl, json, os, sys
path, log, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(log, "a") as done:
    for seq in range(1, count + 1):
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            body = {"open_positions": [], "closed_positions": [], "seq": seq}
            with open(path, "r+" if os.path.exists(path) else "w") as f:
                f.truncate(0)
                f.write(json.dumps(body))
                f.flush()
                os.fsync(f.fileno())
            fcntl.flock(lock, fcntl.LOCK_UN)
        done.write(f"{seq}\n")
        done.flush()
"#;

impl Writer {
    /// Starts writing `file` `count` times; its log goes to `log`.
    pub fn start(file: &Path, log: &Path, count: u32) -> Writer {
        let child = Command::new("python3")
            .arg("-c")
            .arg(WRITER)
            .arg(file)
            .arg(log)
            .arg(count.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 is required by the tests");
        Writer {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Whether it has finished.
    pub fn done(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_some()
    }

    /// Waits for it to finish and returns the numbers of the writes it made, in order.
    pub fn wait(mut self) -> Vec<u32> {
        let status = self.child.wait().expect("wait for the writer");
        assert!(status.success(), "the writer failed: {status}");
        std::fs::read_to_string(&self.log)
            .expect("writer log")
            .lines()
            .map(|l| l.parse().expect("a write number"))
            .collect()
    }
}

/// Reads `file` under its `<file>.lock` flock, as a well-behaved reader does.
fn read_locked(file: &Path) -> Vec<u8> {
    let mut lock_path = file.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(PathBuf::from(lock_path))
        .expect("lock file");
    lock.lock_shared().expect("flock");
    let bytes = std::fs::read(file).expect("read");
    drop(lock);
    bytes
}

#[test]
fn a_positions_writer_under_flock_beside_concurrent_checks_loses_nothing() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    assert_eq!(a.json(&["heal"]).0, 0);
    let journal_before = crate::reliability_support::journal_text(&a.root());
    let file = a.root().join("logs/positions_futures.json");
    let count = 2_000;
    let mut writer = Writer::start(&file, &a.aux("writer.log"), count);
    let mut seen = 0u64;
    let mut last = 0;
    let mut checks = 0;
    while !writer.done() {
        // Every version a reader sees under the flock is whole, and they only move forward.
        let v: Value = serde_json::from_slice(&read_locked(&file)).expect("a whole version");
        let seq = v["seq"].as_u64().unwrap_or(0);
        assert!(seq >= last, "versions go forward: {seq} after {last}");
        last = seq;
        seen += 1;
        let out = output_within(&mut a.cmd(&["--json", "check"]), RUN_LIMIT);
        crate::reliability_support::observe_run(&out);
        assert!([0, 1, 4].contains(&code(&out)), "{}", stderr(&out));
        checks += 1;
    }
    let writes = writer.wait();
    assert_eq!(
        writes,
        (1..=count).collect::<Vec<_>>(),
        "the writer made every write"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(
        v["seq"], count,
        "the last write is what the file holds: none lost"
    );
    assert_eq!(
        crate::reliability_support::journal_text(&a.root()),
        journal_before,
        "check wrote nothing"
    );
    assert!(seen > 0 && checks > 0);
    summary::add(|t| {
        t.checks_beside_writer += checks;
        t.writer_writes += u64::from(count);
    });
}
