//! `watch` beside a running bot: a Python writer (a bot instance of the root: `python3
//! .../run.py`, working directory in the root) rewrites the positions file under its flock
//! on `logs/positions_futures.json.lock`, checking after each locked write that nobody
//! touched the file while it held the lock, and logging when it held it. Meanwhile the test
//! corrupts files and ages heartbeats. Cycles are counted from watch's own JSON lines,
//! never timed: every corrupted file must be healed within two cycles of its corruption
//! (of its lock's release, for a file whose lock was held), every stale heartbeat reported
//! and alerted and left as it is, no file touched while its lock was held, no process
//! signalled, and SIGTERM must end watch with exit 0 after at most one more cycle.

use crate::support::journal::journal_names;
use crate::support::procs::{now, put, tempdir, wait_until, Guard};
use crate::support::watch::{actions_on, alerts, findings_of, skipped_locked, Watch, PATIENCE};
use journal_format::{self as jf, Mac};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const POSITIONS: &str = "logs/positions_futures.json";
const PORTFOLIO: &str = "logs/portfolio_futures.json";
const JSON_HB: &str = "state/heartbeats/bot_cycle.json";
const PLAIN_HB: &str = "logs/.bot_heartbeat";

/// The writer: `python3 run.py ROOT LOG READY PAUSE PAUSED`. While PAUSE exists it stays
/// out of the lock (and says so by creating PAUSED).
const WRITER: &str = r#"import fcntl, hashlib, json, os, sys, time
root, log_path, ready, pause, paused = sys.argv[1:6]
pos = os.path.join(root, "logs", "positions_futures.json")
lock = pos + ".lock"
log = open(log_path, "a", buffering=1)
i = 0
while True:
    if os.path.exists(pause):
        if not os.path.exists(paused):
            open(paused, "w").close()
        time.sleep(0.02)
        continue
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    t0 = time.time_ns()
    doc = {"created_at": "2026-01-01T00:00:00Z", "open_positions": [], "closed_positions": [], "writer_seq": i}
    data = (json.dumps(doc, indent=2) + "\n").encode()
    tmp = pos + ".writer-tmp"
    with open(tmp, "wb") as f:
        os.fchmod(f.fileno(), 0o644)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, pos)
    before = os.stat(pos)
    time.sleep(0.06)
    with open(pos, "rb") as f:
        now = f.read()
    after = os.stat(pos)
    intact = now == data and before.st_ino == after.st_ino and before.st_mtime_ns == after.st_mtime_ns
    t1 = time.time_ns()
    log.write(json.dumps({"i": i, "t0": t0, "t1": t1, "sha": hashlib.sha256(data).hexdigest(), "intact": intact}) + "\n")
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    if i == 0:
        with open(ready + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(ready + ".tmp", ready)
    i += 1
    time.sleep(0.04)
"#;

/// The writer's files, in a directory outside the root.
struct Writer {
    guard: Guard,
    log: std::path::PathBuf,
    pause: std::path::PathBuf,
    paused: std::path::PathBuf,
}

impl Writer {
    fn start(root: &Path, aux: &Path) -> Writer {
        let script = aux.join("run.py");
        std::fs::write(&script, WRITER).expect("write script");
        let (log, ready) = (aux.join("writes.jsonl"), aux.join("ready"));
        let (pause, paused) = (aux.join("pause"), aux.join("paused"));
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(root)
            .args([&log, &ready, &pause, &paused])
            .current_dir(root);
        Writer {
            guard: Guard::spawn(cmd, &ready),
            log,
            pause,
            paused,
        }
    }

    /// Every locked write so far: (start ns, end ns, intact).
    fn writes(&self) -> Vec<(i128, i128, bool)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                let ns = |k: &str| i128::from(v[k].as_i64().expect("ns"));
                (ns("t0"), ns("t1"), v["intact"] == true)
            })
            .collect()
    }

    /// Stops writing, and returns once the writer is outside its lock.
    fn pause(&self) {
        std::fs::write(&self.pause, b"").expect("pause");
        assert!(
            wait_until(PATIENCE, || self.paused.exists()),
            "writer never paused"
        );
    }

    fn resume(&self) {
        std::fs::remove_file(&self.paused).expect("unpaused");
        std::fs::remove_file(&self.pause).expect("resume");
        let n = self.writes().len();
        assert!(
            wait_until(PATIENCE, || self.writes().len() > n),
            "writer never wrote again"
        );
    }
}

fn dt(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn heartbeats(root: &Path, ts: i64) -> (Vec<u8>, Vec<u8>) {
    let json = format!(
        "{{\"component\": \"bot_cycle\", \"last_heartbeat_ts\": {ts}, \"last_heartbeat_dt\": \"{}\", \"metadata\": {{}}}}\n",
        dt(ts)
    );
    let plain = format!("{ts}\n");
    put(root, JSON_HB, json.as_bytes());
    put(root, PLAIN_HB, plain.as_bytes());
    for rel in [JSON_HB, PLAIN_HB] {
        crate::support::procs::chmod(&root.join(rel), 0o644);
    }
    (json.into_bytes(), plain.into_bytes())
}

/// Nanoseconds since the epoch.
fn now_ns() -> i128 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch");
    i128::try_from(d.as_nanos()).expect("fits")
}

fn rfc3339_ns(ts: &str) -> i128 {
    let t = chrono::DateTime::parse_from_rfc3339(ts).expect("record time");
    i128::from(t.timestamp_nanos_opt().expect("in range"))
}

/// For every operation of a `watch` transaction on `path`: the latest its intent record can
/// have been written and the earliest its `done` record can have been, in nanoseconds
/// (record times are cut to milliseconds). The change happened between the two records, so
/// a span the lock was certainly held that contains this one is a write under the lock.
fn watch_writes(root: &Path, path: &str) -> Vec<(i128, i128)> {
    let mut out = Vec::new();
    for name in journal_names(root) {
        let txn = jf::parse_file_name(&name).expect("txn file");
        let bytes = std::fs::read(root.join("logs/backups/journal").join(&name)).expect("read");
        let records: Vec<jf::Record> = jf::decode_file(&bytes, &Mac::Sha256, Some(txn))
            .entries
            .into_iter()
            .map(|e| e.record)
            .collect();
        let is_watch = records
            .iter()
            .any(|r| matches!(&r.body, jf::Body::Begin(b) if b.command == "watch"));
        let mut started: BTreeMap<u32, i128> = BTreeMap::new();
        for r in records.iter().filter(|_| is_watch) {
            match &r.body {
                jf::Body::Intent(i) if i.path.as_deref() == Some(path) => {
                    started.insert(i.op, rfc3339_ns(&r.ts) + 999_999);
                }
                jf::Body::Done(d) => {
                    if let Some(start) = started.remove(&d.op) {
                        out.push((start, rfc3339_ns(&r.ts)));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Whether the write `w` certainly happened while the lock was certainly held (`held`).
fn written_under(w: (i128, i128), held: (i128, i128)) -> bool {
    w.0 <= held.1 && held.0 <= w.1
}

/// The file's bytes, inode and mtime.
fn identity(p: &Path) -> (Vec<u8>, u64, i64, i64) {
    let m = std::fs::symlink_metadata(p).expect("stat");
    (
        std::fs::read(p).expect("read"),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
    )
}

/// Damages `rel` with `damage` and checks that a cycle at most two after the last one read
/// applies the heal `heal` to it.
fn heals_within_two_cycles(
    w: &mut Watch,
    root: &Path,
    rel: &str,
    heal: &str,
    damage: impl FnOnce(&Path),
) {
    let k = w.last();
    damage(&root.join(rel));
    let healed = w.find_by(k + 2, |c| {
        actions_on(c, rel, "applied")
            .iter()
            .any(|a| a["heal"] == heal)
    });
    assert!(
        healed.is_some(),
        "{rel} not healed ({heal}) by cycle {}: {:?}",
        k + 2,
        w.cycles.last()
    );
}

#[test]
fn watch_beside_a_writing_bot_heals_reports_and_stops_cleanly() {
    let dir = tempdir();
    let root = dir.path().join("root");
    let aux = tempdir();
    let setup = crate::support::procs::selfheal(
        &dir.path().join("root"),
        &["heal", "--init", "--mode", "paper"],
    );
    assert_eq!(setup.code, 0, "{}", setup.stderr);
    let (fresh_json, fresh_plain) = heartbeats(&root, now());
    let mut writer = Writer::start(&root, aux.path());
    let journal_before = journal_names(&root);
    let mut w = Watch::spawn(
        &root,
        &["--mode", "paper", "--interval", "200ms", "--cycles", "1000"],
        &[],
        &aux.path().join("watch.stderr"),
    );

    // Clean cycles: nothing to do, nothing recorded.
    w.wait_cycle(3);
    for c in &w.cycles {
        assert_eq!(c["outcome"], "checked", "{c}");
        assert!(c["transaction"].is_null(), "{c}");
    }
    assert_eq!(
        journal_names(&root),
        journal_before,
        "a cycle with nothing to do records nothing"
    );
    assert_eq!(std::fs::read(root.join(JSON_HB)).expect("hb"), fresh_json);
    assert_eq!(std::fs::read(root.join(PLAIN_HB)).expect("hb"), fresh_plain);

    // The portfolio (nobody holds its lock) truncated to nothing, then cut in the middle of
    // its document: each healed within two cycles (the cut one by salvage, paper mode).
    heals_within_two_cycles(&mut w, &root, PORTFOLIO, "empty_file", |p| {
        std::fs::File::create(p).expect("truncate portfolio");
    });
    heals_within_two_cycles(&mut w, &root, PORTFOLIO, "corrupted_json", |p| {
        let bytes = std::fs::read(p).expect("read portfolio");
        std::fs::write(p, &bytes[..bytes.len() / 2]).expect("cut portfolio");
    });
    let portfolio: Value =
        serde_json::from_slice(&std::fs::read(root.join(PORTFOLIO)).expect("read")).expect("json");
    assert!(portfolio.is_object(), "{portfolio}");

    // Stale heartbeats: reported (finding and alert) within two cycles, never reset.
    let k = w.last();
    let (old_json, old_plain) = heartbeats(&root, now() - 5000);
    let both = |c: &Value| {
        let stale = findings_of(c, "STALE_HEARTBEAT");
        [JSON_HB, PLAIN_HB]
            .iter()
            .all(|p| stale.iter().any(|f| f["path"] == *p))
    };
    assert!(
        w.find_by(k + 2, both).is_some(),
        "stale heartbeats not reported by cycle {}",
        k + 2
    );
    for p in [JSON_HB, PLAIN_HB] {
        let a = alerts(&root, "STALE_HEARTBEAT");
        assert!(
            a.iter().any(|x| x["details"]["path"] == p),
            "no alert for {p}: {a:?}"
        );
    }

    // The positions file corrupted while its lock is held (the writer paused, the test
    // holding the bot's lock): skipped, untouched, for as long as the lock is held; healed
    // within two cycles of its release.
    writer.pause();
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(root.join(format!("{POSITIONS}.lock")))
        .expect("open lock");
    lock.lock().expect("flock");
    let held_from = now_ns();
    let whole = std::fs::read(root.join(POSITIONS)).expect("read positions");
    std::fs::write(root.join(POSITIONS), &whole[..whole.len() / 2]).expect("cut positions");
    let corrupt = identity(&root.join(POSITIONS));
    let k = w.last();
    w.wait_cycle(k + 3);
    for c in w.cycles.iter().filter(|c| c["cycle"].as_u64() > Some(k)) {
        assert!(
            actions_on(c, POSITIONS, "applied").is_empty(),
            "touched while locked: {c}"
        );
    }
    for c in w
        .cycles
        .iter()
        .filter(|c| c["cycle"].as_u64() >= Some(k + 2))
    {
        assert!(skipped_locked(c, POSITIONS), "not reported as locked: {c}");
        let announced = findings_of(c, "DATA_INTEGRITY");
        assert!(
            announced.iter().all(|f| f["path"] != POSITIONS),
            "a salvage announced but not applied: {c}"
        );
    }
    assert_eq!(
        identity(&root.join(POSITIONS)),
        corrupt,
        "positions changed under the lock"
    );
    let released = w.last();
    let held_until = now_ns();
    lock.unlock().expect("unlock");
    let healed = w.find_by(released + 2, |c| {
        !actions_on(c, POSITIONS, "applied").is_empty()
    });
    assert!(
        healed.is_some(),
        "positions not healed by cycle {}",
        released + 2
    );
    let positions: Value =
        serde_json::from_slice(&std::fs::read(root.join(POSITIONS)).expect("read")).expect("json");
    assert!(positions.is_object(), "{positions}");
    let salvaged = w.cycles.iter().any(|c| {
        actions_on(c, POSITIONS, "applied")
            .iter()
            .any(|a| a["heal"] == "corrupted_json")
    });
    assert!(salvaged, "the cut positions file was salvaged");
    writer.resume();
    let k = w.last();
    w.wait_cycle(k + 3);

    // SIGTERM: exit 0 after at most one more cycle.
    let before_signal = w.last();
    w.signal(rustix::process::Signal::TERM);
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", w.stderr());
    let after = w.last() - before_signal;
    assert!(after <= 1, "{after} cycles completed after SIGTERM");

    // No process signalled, no heartbeat reset, no lock removed, nothing forbidden planned.
    assert!(writer.guard.running(), "the writer was signalled");
    assert_eq!(std::fs::read(root.join(JSON_HB)).expect("hb"), old_json);
    assert_eq!(std::fs::read(root.join(PLAIN_HB)).expect("hb"), old_plain);
    assert!(root.join(format!("{POSITIONS}.lock")).exists());
    for c in &w.cycles {
        for a in c["actions"].as_array().into_iter().flatten() {
            let kind = a["kind"].as_str().unwrap_or_default();
            assert!(
                !["signal", "remove_file"].contains(&kind),
                "forbidden action: {a}"
            );
            assert_ne!(a["heal"], "stale_heartbeat", "{a}");
        }
    }

    // No file touched while its lock was held: the writer saw every locked write intact,
    // and no watch write on the positions file overlaps a span the lock was held.
    let writes = writer.writes();
    assert!(writes.len() > 5, "the writer barely ran: {}", writes.len());
    assert!(
        writes.iter().all(|(_, _, intact)| *intact),
        "a locked write was disturbed"
    );
    let mut held: Vec<(i128, i128)> = writes.iter().map(|(a, b, _)| (*a, *b)).collect();
    held.push((held_from, held_until));
    let ours = watch_writes(&root, POSITIONS);
    assert!(!ours.is_empty(), "watch never wrote the positions file");
    for o in &ours {
        for h in &held {
            assert!(
                !written_under(*o, *h),
                "watch wrote {POSITIONS} during {o:?} while the lock was held {h:?}"
            );
        }
    }
    let verify = crate::support::procs::selfheal(&root, &["journal", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let stats = crate::support::procs::selfheal(&root, &["stats"]);
    assert!(
        stats.json["runs"].as_u64() >= Some(3),
        "watch transactions are runs: {}",
        stats.json
    );
}
