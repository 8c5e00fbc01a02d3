//! Load: 16 heals and 4 rollbacks started at once on one root, round after round (5 in
//! CI, 50 with `SELFHEAL_LONG_TESTS=1`), alone and beside a `selfheal watch` cycling through
//! each round: every run ends with a documented exit code (watch with 0 on SIGTERM), the
//! lock serialises them into whole transactions (the state is wholly healed or wholly
//! rolled back, never a mix), the journal verifies, no temp file is left, nothing is lost.
//! Also the [`Writer`] helper: a process rewriting the positions file in place under its
//! `<file>.lock` flock at a high rate, as the bot does, which keeps a log of every write so
//! a test can prove none was lost, beside concurrent `check`s and beside `watch` (until
//! both have done enough in CI, 60 s in the long variant).

use crate::support::arena::{
    collect, journal_text, long, lost_bytes, output_within, summary, temps_left, Arena, RUN_LIMIT,
};
use crate::support::states::damaged;
use crate::support::watch::{actions_on, Watch};
use crate::support::{code, diff, stderr, without_mtimes, Snapshot};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEALS: usize = 16;
const ROLLBACKS: usize = 4;

const POSITIONS: &str = "logs/positions_futures.json";

/// The newest committed transaction of one of `commands` that applied operations.
fn last_with_work(a: &Arena, commands: &[&str]) -> u64 {
    let (rc, v) = a.json(&["journal", "list"]);
    assert_eq!(rc, 0, "{v}");
    v["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .rev()
        .find(|t| commands.iter().any(|c| t["command"] == *c) && t["operations"].as_u64() > Some(0))
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
        crate::support::arena::observe_run(&out);
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
    rounds_on_one_root(false);
}

/// The same rounds with a `selfheal watch` (20 ms pauses) started before each round's runs
/// and stopped with SIGTERM once a cycle that began after them has finished: its cycles take
/// the same lock, so a cycle that finds the state rolled back heals it as a heal would, as
/// one transaction; it exits 0; and a final `watch --cycles 3` finds nothing to do.
#[test]
fn concurrent_heals_rollbacks_and_a_watch_on_one_root() {
    rounds_on_one_root(true);
}

/// The damaged fixture of the rollback tests in a shape `watch` heals exactly as `heal`
/// does: the bot's lock files exist (as in `damaged`) and are never stale (watch never
/// removes a lock, so a stale one would leave a state that is neither side).
fn watch_fixture(a: &Arena) -> PathBuf {
    let cfg = damaged(&a.fx);
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(&cfg).expect("read config")).expect("config");
    v["locks"] = serde_json::json!({"stale_after": "3650d"});
    std::fs::remove_file(&cfg).expect("move the config");
    a.config(&v.to_string())
}

fn rounds_on_one_root(with_watch: bool) {
    let _summary = summary::Part::start();
    let mut a = Arena::new();
    let cfg = if with_watch {
        watch_fixture(&a)
    } else {
        damaged(&a.fx)
    };
    a.seal();
    let cfg = cfg.to_str().expect("utf8");
    let pre = a.snapshot();
    if with_watch {
        // What watch makes of the damaged state is what heal makes of it.
        let copy = Arena::copy_of(&a);
        let out = copy.run(&["--config", cfg, "watch", "--cycles", "1"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (rc, v) = a.json(&["--config", cfg, "heal"]);
        assert_eq!(rc, 0, "{v}");
        let (ours, theirs) = (
            without_mtimes(&a.snapshot()),
            without_mtimes(&copy.snapshot()),
        );
        assert!(
            ours == theirs,
            "watch healed otherwise:\n{}",
            diff(&ours, &theirs)
        );
    } else {
        let (rc, v) = a.json(&["--config", cfg, "heal"]);
        assert_eq!(rc, 0, "{v}");
    }
    let post = a.snapshot();
    let rounds = if long() { 50 } else { 5 };
    let commands: &[&str] = if with_watch {
        &["heal", "watch"]
    } else {
        &["heal"]
    };
    let mut committed = 0;
    for r in 0..rounds {
        let target = last_with_work(&a, commands);
        let mut watch = with_watch.then(|| {
            let err = a.aux(&format!("watch-{r}.stderr"));
            let mut w = Watch::spawn(
                &a.root(),
                &["--config", cfg, "--interval", "20ms"],
                &[],
                &err,
            );
            w.wait_cycle(1);
            w
        });
        let (rolled_back, timed_out) = round(&a, cfg, target);
        let cycles = watch.as_mut().map_or(0, |w| stop_watch(w, r));
        committed += watch.as_ref().map_or(0, |w| {
            w.cycles
                .iter()
                .filter(|c| c["outcome"] == "committed")
                .count()
        });
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
            t.watch_cycles_in_rounds += cycles;
            t.watch_rounds += u64::from(with_watch);
        });
    }
    if with_watch {
        let args = [
            "--config",
            cfg,
            "--json",
            "watch",
            "--cycles",
            "3",
            "--interval",
            "0s",
        ];
        let out = a.run(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a cycle line"))
            .collect();
        assert_eq!(lines.len(), 3);
        for c in &lines {
            assert_eq!(
                c["outcome"], "checked",
                "the healed state needs nothing: {c}"
            );
        }
        summary::add(|t| t.watch_cycles_in_rounds += 3);
        eprintln!("watch through {rounds} rounds: {committed} cycles healed a rolled-back state");
    }
}

/// Once a cycle that began now has finished, SIGTERM: watch must exit 0 after at most
/// one more cycle, without a panic (counted as a run in the summary). `ctx` prefixes the
/// failure messages.
fn terminate(w: &mut Watch, ctx: &str) {
    w.wait_fresh_cycle();
    let signalled = w.drain();
    w.signal(rustix::process::Signal::TERM);
    let status = w.wait_exit();
    let err = w.stderr();
    let panicked = err.contains("panicked at");
    summary::add(|t| {
        t.runs += 1;
        t.panics += u64::from(panicked);
    });
    assert!(!panicked, "{ctx}watch panicked:\n{err}");
    assert_eq!(status.code(), Some(0), "{ctx}watch: {err}");
    assert!(w.last() <= signalled + 1, "{ctx}cycles after SIGTERM");
}

/// Stops a round's watch once a cycle that began after the round's runs has finished:
/// SIGTERM, exit 0 after at most one more cycle, no panic; every cycle ended with a
/// documented outcome, a committed one with its transaction. Returns its cycles.
fn stop_watch(w: &mut Watch, r: usize) -> u64 {
    terminate(w, &format!("round {r}: "));
    for c in &w.cycles {
        let outcome = c["outcome"].as_str().unwrap_or_default();
        assert!(
            ["checked", "committed", "lock_busy"].contains(&outcome),
            "round {r}: {c}"
        );
        assert_eq!(
            outcome == "committed",
            c["transaction"].is_u64(),
            "round {r}: {c}"
        );
        assert!(
            c["failed"].as_array().is_none_or(Vec::is_empty),
            "round {r}: {c}"
        );
    }
    w.cycles.len() as u64
}

/// A process rewriting the positions file in place under its `<file>.lock` flock, as the
/// bot does (open, flock, truncate, write, fsync, unlock), `count` times as fast as it can
/// or until a stop file appears. Each version carries its number in `"seq"` and between 0
/// and 63 closed positions (up to some 12 KiB, so a reader without the lock can catch one
/// half written); still under the lock, it reads the file back and checks nobody replaced
/// or changed it. After each write the number is appended to a log outside the root (with
/// ` disturbed` if the check failed), so a test knows every write that was made.
pub struct Writer {
    child: Child,
    log: PathBuf,
}

const WRITER: &str = r#"
import fcntl, json, os, sys
path, log, count, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(log, "a") as done:
    seq = 0
    while seq < count and not (stop and os.path.exists(stop)):
        seq += 1
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            closed = [{"symbol": f"S{i}USDT", "direction": "LONG", "strategy": "grid",
                       "entry_price": 100.5 + i, "size": 0.25, "leverage": 3,
                       "exit_price": 101.0, "seq": seq} for i in range(seq % 64)]
            body = {"open_positions": [], "closed_positions": closed, "seq": seq}
            data = json.dumps(body, indent=2)
            with open(path, "r+" if os.path.exists(path) else "w") as f:
                f.truncate(0)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
                ino = os.fstat(f.fileno()).st_ino
            with open(path) as f:
                intact = f.read() == data and os.fstat(f.fileno()).st_ino == ino
            fcntl.flock(lock, fcntl.LOCK_UN)
        done.write(f"{seq}\n" if intact else f"{seq} disturbed\n")
        done.flush()
"#;

impl Writer {
    /// Starts writing `file` `count` times; its log goes to `log`.
    pub fn start(file: &Path, log: &Path, count: u32) -> Writer {
        Writer::spawn(file, log, count, None)
    }

    /// Starts writing `file` until `stop` exists; its log goes to `log`.
    pub fn until(file: &Path, log: &Path, stop: &Path) -> Writer {
        Writer::spawn(file, log, u32::MAX, Some(stop))
    }

    fn spawn(file: &Path, log: &Path, count: u32, stop: Option<&Path>) -> Writer {
        let child = Command::new("python3")
            .arg("-c")
            .arg(WRITER)
            .arg(file)
            .arg(log)
            .arg(count.to_string())
            .arg(stop.unwrap_or(Path::new("")))
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

    /// How many writes it has made so far.
    pub fn writes(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Waits for it to finish and returns the numbers of the writes it made, in order;
    /// fails if any write was disturbed while it held the lock.
    pub fn wait(mut self) -> Vec<u32> {
        let status = self.child.wait().expect("wait for the writer");
        assert!(status.success(), "the writer failed: {status}");
        std::fs::read_to_string(&self.log)
            .expect("writer log")
            .lines()
            .map(|l| {
                assert!(
                    !l.ends_with("disturbed"),
                    "write {l} while it held the lock"
                );
                l.parse().expect("a write number")
            })
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
    let journal_before = crate::support::arena::journal_text(&a.root());
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
        crate::support::arena::observe_run(&out);
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
        crate::support::arena::journal_text(&a.root()),
        journal_before,
        "check wrote nothing"
    );
    assert!(seen > 0 && checks > 0);
    summary::add(|t| {
        t.checks_beside_writer += checks;
        t.writer_writes += u64::from(count);
    });
}

/// Everything in the root but the positions file and its lock file.
fn all_but_positions(a: &Arena) -> Snapshot {
    let mut s = a.snapshot();
    s.remove(POSITIONS);
    s.remove(&format!("{POSITIONS}.lock"));
    s
}

/// `selfheal watch --mode real --interval 5ms` beside the [`Writer`] rewriting the positions
/// file in place under its flock, until watch has finished 100 cycles and the writer made
/// 2,000 writes (and 60 s have passed, in the long variant): no write lost or disturbed
/// (the writer checks each one under its lock; the file ends as its last write); no cycle
/// reports anything about the positions file it caught half written (real mode: that would
/// be a false DATA_INTEGRITY critical), let alone repairs it, so watch writes no journal
/// record and changes nothing else; the journal verifies; SIGTERM ends watch with 0.
#[test]
fn a_positions_writer_under_flock_beside_watch_loses_nothing() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    assert_eq!(a.json(&["heal"]).0, 0);
    let root = a.root();
    let journal_before = journal_text(&root);
    let others = all_but_positions(&a);
    let (min_cycles, min_writes, min_time) = if long() {
        (1_000, 20_000, Duration::from_secs(60))
    } else {
        (100, 2_000, Duration::ZERO)
    };
    let file = root.join(POSITIONS);
    let stop = a.aux("stop-writing");
    let args = ["--mode", "real", "--interval", "5ms"];
    let mut w = Watch::spawn(&root, &args, &[], &a.aux("watch.stderr"));
    w.wait_cycle(1);
    let mut writer = Writer::until(&file, &a.aux("writer.log"), &stop);
    let started = Instant::now();
    loop {
        assert!(w.next().is_some(), "watch ended: {}", w.stderr());
        let enough = w.last() >= min_cycles && writer.writes() >= min_writes;
        if enough && started.elapsed() >= min_time {
            break;
        }
        assert!(!writer.done(), "the writer stopped early");
        assert!(
            started.elapsed() < Duration::from_secs(1_200),
            "no progress: {} cycles, {} writes",
            w.last(),
            writer.writes()
        );
    }
    std::fs::write(&stop, b"").expect("stop the writer");
    let writes = writer.wait();
    let elapsed = started.elapsed();
    // A cycle that read the writer's last version, then SIGTERM.
    terminate(&mut w, "");

    let (mut torn, mut locked) = (0, 0);
    for c in &w.cycles {
        assert_eq!(c["outcome"], "checked", "{c}");
        assert!(c["transaction"].is_null(), "{c}");
        assert!(actions_on(c, POSITIONS, "applied").is_empty(), "{c}");
        let about = c["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["path"] == POSITIONS)
            .count();
        assert_eq!(
            about, 0,
            "a finding about a version caught half written: {c}"
        );
        assert!(c["critical"].as_array().is_some_and(Vec::is_empty), "{c}");
        for s in c["skipped"].as_array().into_iter().flatten() {
            assert_eq!(s["path"], POSITIONS, "{c}");
            if s["locked"] == true {
                locked += 1;
            } else {
                torn += 1;
            }
        }
    }
    let n = u32::try_from(writes.len()).expect("count");
    assert_eq!(writes, (1..=n).collect::<Vec<_>>(), "every write was made");
    let v: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(
        v["seq"], n,
        "the last write is what the file holds: none lost"
    );
    assert_eq!(
        journal_text(&root),
        journal_before,
        "watch repaired nothing, so it recorded nothing"
    );
    let alerts =
        std::fs::read_to_string(root.join("logs/operator_alerts.jsonl")).unwrap_or_default();
    assert!(!alerts.contains(POSITIONS), "alerted:\n{alerts}");
    assert!(
        all_but_positions(&a) == others,
        "{}",
        diff(&others, &all_but_positions(&a))
    );
    let out = a.run(&["journal", "verify"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(temps_left(&root).is_empty(), "temps left");
    eprintln!(
        "watch beside the writer: {} cycles, {n} writes in {elapsed:?}; {torn} versions caught \
         half written and {locked} under the lock, skipped",
        w.cycles.len()
    );
    summary::add(|t| {
        t.watch_cycles_beside_writer += w.cycles.len() as u64;
        t.writes_beside_watch += u64::from(n);
        t.watch_writer_secs += elapsed.as_secs();
    });
}
