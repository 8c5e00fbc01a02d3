//! The reference bot's own state root (`tests/fixtures/realbot/sample`, copied to a temp dir
//! for each test, never changed in place) through the real binary: its `.bot_heartbeat` as
//! ISO-8601 text, a lock on its positions file held by another process (LOCK_HELD, or a
//! heal that waits for it), its trades file salvaged under the real-mode rules, its own
//! rolling backups in `logs/backups/` never touched, and `watch` beside idle lock files.

use crate::support::procs::{age, get, mode, mtime_ns, now, put, selfheal, tempdir, Guard, Run};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const POSITIONS: &str = "logs/positions_futures.json";
const POSITIONS_LOCK: &str = "logs/positions_futures.json.lock";
const TRADES: &str = "logs/trades_futures.json";
const BOT_HB: &str = "logs/.bot_heartbeat";
const JSON_HBS: [&str; 2] = [
    "state/heartbeats/bot_cycle.json",
    "state/heartbeats/position_manager.json",
];
/// The heartbeats' time in the fixture (`2026-12-05 07:21:25 UTC`).
const SAMPLE_TS: i64 = 1_796_455_285;
const SAMPLE_DT: &str = "2026-12-05 07:21:25 UTC";
/// The bot's own backups in the fixture.
const BOT_BACKUPS: [&str; 3] = [
    "logs/backups/portfolio_futures_20261205_072124.json",
    "logs/backups/portfolio_futures_20261205_072125.json",
    "logs/backups/trades_futures_20261205_072125.json",
];

/// Copies `from` into `to` (files and directories), then makes everything user-writable.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("list fixture").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
        let m = mode(&target) | 0o200;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(m)).expect("u+w");
    }
}

/// A copy of the sample state root whose JSON heartbeats are fresh (only their two time
/// values changed) and whose `.bot_heartbeat` is `bot_hb`.
fn sample(bot_hb: &str) -> tempfile::TempDir {
    let dir = tempdir();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realbot/sample");
    copy_tree(&fixture, dir.path());
    let ts = now();
    for hb in JSON_HBS {
        let text = String::from_utf8(get(dir.path(), hb).expect("heartbeat")).expect("utf8");
        let fresh = text
            .replace(&SAMPLE_TS.to_string(), &ts.to_string())
            .replace(SAMPLE_DT, &dt(ts));
        assert_ne!(fresh, text, "{hb} holds the sample's time");
        put(dir.path(), hb, fresh.as_bytes());
    }
    put(dir.path(), BOT_HB, bot_hb.as_bytes());
    dir
}

fn dt(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `ts` as the bot writes its heartbeat: naive UTC ISO-8601 with microseconds.
fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 512_345_000)
        .map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

/// The bot's lock timeout for the test (the embedded default is the bot's 10 s).
fn bot_timeout(r: &Path, timeout: &str) {
    let config = format!(r#"{{"locks": {{"bot_timeout": "{timeout}"}}}}"#);
    put(r, "config/selfheal.json", config.as_bytes());
}

/// Bytes, mode and mtime of `rel`.
fn seen(r: &Path, rel: &str) -> (Option<Vec<u8>>, u32, u128) {
    let p = r.join(rel);
    (get(r, rel), mode(&p), mtime_ns(&p))
}

/// Every string of a report that names a path or says something (actions, findings,
/// failures, warnings): what a heal reports.
fn reported(run: &Run) -> String {
    ["actions", "findings", "failed", "warnings", "healed"]
        .iter()
        .map(|k| run.json[*k].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The health check `name` of a report.
fn health_check(run: &Run, name: &str) -> Value {
    run.json["health"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no health check {name}: {}", run.json["health"]))
}

/// What Python's `datetime.fromisoformat` makes of the heartbeat: its age in seconds
/// against `datetime.utcnow()`, exactly the reference bot's startup check (which breaks
/// on anything else).
fn bot_check_age(path: &Path) -> f64 {
    let code = "import datetime, sys\n\
                beat = datetime.datetime.fromisoformat(open(sys.argv[1]).read().strip())\n\
                assert beat.tzinfo is None, beat\n\
                print((datetime.datetime.utcnow() - beat).total_seconds())\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().expect("an age in seconds")
}

#[test]
fn a_fresh_iso_bot_heartbeat_and_fresh_json_heartbeats_are_left_alone_byte_for_byte() {
    for text in [iso(now() - 20), format!("{}Z", iso(now() - 20))] {
        let root = sample(&text);
        let r = root.path();
        let before: Vec<_> = JSON_HBS
            .iter()
            .chain([&BOT_HB])
            .map(|p| seen(r, p))
            .collect();
        let run = selfheal(r, &["heal", "--mode", "paper"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            run.stat("heartbeats_reset"),
            0,
            "{text}: {}",
            reported(&run)
        );
        assert!(
            run.findings("STALE_HEARTBEAT").is_empty(),
            "{}",
            reported(&run)
        );
        let after: Vec<_> = JSON_HBS
            .iter()
            .chain([&BOT_HB])
            .map(|p| seen(r, p))
            .collect();
        assert_eq!(
            after, before,
            "{text}: untouched, byte for byte, mtime included"
        );
        assert_eq!(health_check(&run, "heartbeats")["ok"], true);
    }
}

#[test]
fn a_stale_iso_bot_heartbeat_is_reset_as_naive_iso_the_bot_can_read() {
    let stale = iso(now() - 5000);
    let root = sample(&stale);
    let r = root.path();
    let before = now();
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    let after = now();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.healed(&format!(
            "Reset stale heartbeat: bot_heartbeat ({BOT_HB}, stale for 50"
        )),
        "{:?}",
        run.list("healed")
    );
    assert_eq!(run.stat("heartbeats_reset"), 1, "only the stale one");
    let text = String::from_utf8(get(r, BOT_HB).expect("heartbeat")).expect("utf8");
    assert!(
        !text.ends_with('\n') && !text.contains(['Z', '+']),
        "{text:?}"
    );
    let beat = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.6f")
        .expect("naive ISO-8601 with microseconds");
    assert!(
        (before..=after).contains(&beat.and_utc().timestamp()),
        "{text}"
    );
    let age = bot_check_age(&r.join(BOT_HB));
    assert!(
        (-5.0..120.0).contains(&age),
        "the bot's own check: {age} s old"
    );
    // Undone exactly.
    let rb = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(get(r, BOT_HB), Some(stale.into_bytes()));
}

#[test]
fn a_stale_epoch_bot_heartbeat_stays_an_epoch() {
    let root = sample(&format!("{}\n", now() - 5000));
    let r = root.path();
    let before = now();
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("heartbeats_reset"), 1);
    let text = String::from_utf8(get(r, BOT_HB).expect("heartbeat")).expect("utf8");
    let ts: i64 = text
        .strip_suffix('\n')
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("an integer epoch and its newline: {text:?}"));
    assert!((before..=now()).contains(&ts));
}

#[test]
fn an_unreadable_bot_heartbeat_with_a_fresh_mtime_is_reported_and_rewritten_as_iso() {
    let root = sample("alive");
    let r = root.path();
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let f = run.findings("STALE_HEARTBEAT");
    assert_eq!(f.len(), 1, "{}", reported(&run));
    let message = f[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is unreadable") && message.contains("mtime is recent"),
        "{message}"
    );
    assert_eq!(
        health_check(&run, "heartbeats")["ok"],
        true,
        "not counted stale"
    );
    let age = bot_check_age(&r.join(BOT_HB));
    assert!(
        (-5.0..120.0).contains(&age),
        "rewritten as ISO: {age} s old"
    );
}

#[test]
fn a_heartbeat_dated_in_the_future_is_reported_and_reset() {
    let root = sample(&iso(now() + 3600));
    let r = root.path();
    let json = JSON_HBS[0];
    let text = String::from_utf8(get(r, json).expect("json heartbeat")).expect("utf8");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let ts = doc["last_heartbeat_ts"].as_i64().expect("ts");
    put(
        r,
        json,
        text.replace(&ts.to_string(), &(ts + 3600).to_string())
            .as_bytes(),
    );
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("heartbeats_reset"), 2, "{}", reported(&run));
    let f = run.findings("STALE_HEARTBEAT");
    assert_eq!(f.len(), 2, "{}", reported(&run));
    assert!(f.iter().all(|f| f["evidence"] == "in the future"));
    assert!(run.healed(&format!(
        "Reset future-dated heartbeat: bot_heartbeat ({BOT_HB}, 3"
    )));
    assert!(bot_check_age(&r.join(BOT_HB)).abs() < 120.0);
    let doc: Value = serde_json::from_slice(&get(r, json).expect("json")).expect("json");
    assert!(doc["last_heartbeat_ts"]
        .as_i64()
        .is_some_and(|t| t <= now()));
}

#[test]
fn a_heartbeat_directory_behind_an_untrusted_symlink_is_reported() {
    let root = sample(&iso(now()));
    let r = root.path();
    let elsewhere = tempdir();
    std::os::unix::fs::symlink(elsewhere.path(), r.join("hb")).expect("symlink");
    put(
        r,
        "config/selfheal.json",
        br#"{"heartbeats": {"json_dir": "hb"}}"#,
    );
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let f = run.findings("UNCHECKED_PATH");
    assert_eq!(f.len(), 1, "{}", reported(&run));
    assert_eq!(f[0]["path"], "hb");
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("heartbeat directory hb is a symlink")));
}

/// `python3 -c` holding an exclusive flock on `lock` until its stdin closes or gets a line;
/// ready once it holds it.
struct Holder {
    child: Child,
}

impl Holder {
    fn hold(lock: &Path, ready: &Path) -> Holder {
        let code = "import fcntl, sys\n\
                    f = open(sys.argv[1])\n\
                    fcntl.flock(f, fcntl.LOCK_EX)\n\
                    open(sys.argv[2], 'w').write('ready')\n\
                    sys.stdin.readline()\n";
        let child = Command::new("python3")
            .arg("-c")
            .arg(code)
            .arg(lock)
            .arg(ready)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn holder");
        let h = Holder { child };
        let up = crate::support::procs::wait_until(std::time::Duration::from_secs(30), || {
            ready.exists()
        });
        assert!(up, "the holder never took the lock");
        h
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Releases the lock (the holder exits) and reaps it.
    fn release(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_held_positions_lock_is_lock_held_critical_in_real_mode_and_high_in_paper() {
    let root = sample(&iso(now()));
    let aux = tempdir();
    let r = root.path();
    bot_timeout(r, "1s");
    // A repair is due on the positions file (group- and world-writable): it must not run.
    std::fs::set_permissions(r.join(POSITIONS), std::fs::Permissions::from_mode(0o666))
        .expect("chmod");
    let holder = Holder::hold(&r.join(POSITIONS_LOCK), &aux.path().join("ready"));
    let untouched = seen(r, POSITIONS);
    let skipped = format!("skipped: {POSITIONS} is locked by {} (", holder.pid());
    for (mode, code, level) in [("real", 4, "CRITICAL"), ("paper", 0, "HIGH")] {
        let run = selfheal(r, &["heal", "--mode", mode]);
        assert_eq!(run.code, code, "{mode}: {}", run.stderr);
        assert_eq!(run.json["start_allowed"], mode == "paper");
        let f = run.findings("LOCK_HELD");
        assert_eq!(f.len(), 1, "{mode}: {}", reported(&run));
        assert_eq!(f[0]["level"], level);
        assert_eq!(f[0]["path"], POSITIONS);
        assert_eq!(f[0]["details"]["holders"][0]["pid"], holder.pid());
        assert!(
            f[0]["details"]["holders"][0]["command"]
                .as_str()
                .is_some_and(|c| c.contains("fcntl.flock")),
            "{}",
            f[0]
        );
        let message = f[0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("is locked by {} (", holder.pid()))
                && message.contains(&format!("--mode {mode}`")),
            "{message}"
        );
        assert!(
            run.list("failed").iter().any(|l| l.contains(&skipped)),
            "{mode}: {:?}",
            run.list("failed")
        );
        assert_eq!(
            seen(r, POSITIONS),
            untouched,
            "{mode}: the file is untouched"
        );
        // Named once: not a second time as a long-held lock.
        assert!(run.findings("STALE_LOCK").is_empty(), "{}", reported(&run));
    }
}

#[test]
fn a_heal_waits_for_a_lock_released_within_the_timeout_and_proceeds() {
    let root = sample(&iso(now()));
    let aux = tempdir();
    let r = root.path();
    bot_timeout(r, "120s");
    std::fs::set_permissions(r.join(POSITIONS), std::fs::Permissions::from_mode(0o666))
        .expect("chmod");
    let mut holder = Holder::hold(&r.join(POSITIONS_LOCK), &aux.path().join("ready"));
    let mut heal = crate::support::bin()
        .arg("--root")
        .arg(r)
        .args(["--json", "-v", "heal", "--mode", "paper"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn heal");
    let stdout = heal.stdout.take().expect("stdout");
    let json = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut text);
        text
    });
    // The event: the heal says it waits for the bot's lock. Then the holder lets go.
    let mut stderr = BufReader::new(heal.stderr.take().expect("stderr"));
    let mut seen_lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "the heal never waited: {seen_lines:?}");
        let waiting = line.contains("waiting up to") && line.contains(POSITIONS_LOCK);
        seen_lines.push(line);
        if waiting {
            break;
        }
    }
    holder.release();
    let status = heal.wait().expect("heal");
    let v: Value = serde_json::from_str(&json.join().expect("stdout")).expect("report");
    assert_eq!(status.code(), Some(0), "{v}");
    let lock_held = v["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["code"] == "LOCK_HELD"));
    assert!(!lock_held, "{v}");
    assert!(
        v["healed"].as_array().is_some_and(|h| h.iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("Tightened permissions: {POSITIONS}"))))),
        "{v}"
    );
    assert_eq!(mode(&r.join(POSITIONS)), 0o644);
}

/// The trades file cut inside its third trade: two trades survive intact.
fn damage_trades(r: &Path) -> Vec<u8> {
    let text = String::from_utf8(get(r, TRADES).expect("trades")).expect("utf8");
    let third = text
        .match_indices("\"timestamp\"")
        .nth(2)
        .expect("three trades")
        .0;
    let cut = text.get(..third + 40).expect("cut").as_bytes().to_vec();
    put(r, TRADES, &cut);
    cut
}

#[test]
fn a_corrupt_trades_file_is_refused_in_real_mode_and_salvaged_in_paper() {
    let root = sample(&iso(now()));
    let r = root.path();
    let original: Value = serde_json::from_slice(&get(r, TRADES).expect("trades")).expect("json");
    let damaged = damage_trades(r);
    let before = seen(r, TRADES);
    let real = selfheal(r, &["heal", "--mode", "real"]);
    assert_eq!(real.code, 4, "{}", real.stderr);
    let f = real.findings("DATA_INTEGRITY");
    assert!(
        f.iter()
            .any(|f| f["path"] == TRADES && f["level"] == "CRITICAL"),
        "{}",
        reported(&real)
    );
    assert_eq!(
        seen(r, TRADES),
        before,
        "real mode leaves the damaged file as it is"
    );

    let paper = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(paper.code, 0, "{}", paper.stderr);
    assert!(
        paper.healed(&format!("Repaired corrupted trades file: {TRADES}")),
        "{:?}",
        paper.list("healed")
    );
    let salvaged: Value = serde_json::from_slice(&get(r, TRADES).expect("trades")).expect("json");
    let trades = salvaged["trades"].as_array().expect("trades");
    assert_eq!(trades.len(), 2);
    assert_eq!(
        trades[..],
        original["trades"].as_array().expect("trades")[..2]
    );
    // A lossy salvage applied in paper mode blocks real mode until acknowledged.
    let again = selfheal(r, &["heal", "--mode", "real"]);
    assert!(
        again
            .list("critical")
            .iter()
            .any(|c| c.starts_with("DATA_INTEGRITY") && c.contains(TRADES)),
        "{}",
        reported(&again)
    );
    let ack = selfheal(r, &["ack", &paper.txn()]);
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    let after_ack = selfheal(r, &["heal", "--mode", "real"]);
    assert!(
        !after_ack
            .list("critical")
            .iter()
            .any(|c| c.starts_with("DATA_INTEGRITY")),
        "{}",
        reported(&after_ack)
    );
    // The damaged bytes are in the backup store: a rollback restores them exactly.
    let rb = selfheal(r, &["rollback", &paper.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(get(r, TRADES), Some(damaged));
}

#[test]
fn the_bots_own_backups_are_never_changed_counted_or_reported() {
    let root = sample(&iso(now() - 5000));
    let r = root.path();
    // A large backup of the bot's own (its JSON repair looks for `backup_*.json`): over
    // the size warning threshold by itself, while selfheal's own backups stay far below.
    put(
        r,
        "logs/backups/backup_20261205_072125.json",
        &vec![b' '; 2 << 20],
    );
    put(
        r,
        "config/selfheal.json",
        br#"{"retention": {"warn_size": "1MiB"}}"#,
    );
    let mut bot_files: Vec<String> = BOT_BACKUPS.iter().map(|s| s.to_string()).collect();
    bot_files.push("logs/backups/backup_20261205_072125.json".into());
    let before: Vec<_> = bot_files.iter().map(|p| seen(r, p)).collect();
    assert_eq!(mode(&r.join("logs/backups")), 0o755);
    for _ in 0..2 {
        let run = selfheal(r, &["heal", "--mode", "paper"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let after: Vec<_> = bot_files.iter().map(|p| seen(r, p)).collect();
        assert_eq!(after, before, "bytes, mode and mtime of the bot's backups");
        assert_eq!(mode(&r.join("logs/backups")), 0o755, "the shared directory");
        let text = reported(&run);
        for name in [
            "portfolio_futures_2026",
            "trades_futures_2026",
            "backup_2026",
        ] {
            assert!(!text.contains(name), "{name} reported: {text}");
        }
        assert!(run.findings("BACKUPS_SIZE").is_empty(), "{text}");
        assert!(run.findings("BACKUPS_GROWTH").is_empty(), "{text}");
        assert!(run.findings("INSECURE_PERMISSIONS").is_empty(), "{text}");
    }
    // selfheal's own part is owner-only.
    for own in ["logs/backups/journal", "logs/backups/objects"] {
        assert_eq!(mode(&r.join(own)), 0o700, "{own}");
    }
}

/// `selfheal --root ROOT --json watch ARGS` to its end: its cycle lines.
fn watch(r: &Path, args: &[&str]) -> Vec<Value> {
    let out = crate::support::bin()
        .arg("--root")
        .arg(r)
        .args(["--json", "watch"])
        .args(args)
        .output()
        .expect("run watch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn codes(cycle: &Value) -> Vec<String> {
    cycle["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn watch_beside_idle_lock_files_of_a_healthy_bot_reports_no_lock_and_no_heartbeat() {
    let root = sample(&iso(now()));
    let r = root.path();
    let locks = [
        POSITIONS_LOCK,
        "state/streak_state_alpha.json.lock",
        "feature_store/hold_time_policy.json.lock",
    ];
    for lock in locks {
        // Idle for an hour: old, not held, as a stopped helper leaves them.
        age(&r.join(lock), 3600);
    }
    let cycles = watch(r, &["--cycles", "3", "--interval", "0s", "--mode", "paper"]);
    assert_eq!(cycles.len(), 3);
    for c in &cycles {
        let found = codes(c);
        for code in [
            "STALE_LOCK",
            "LOCK_HELD",
            "UNCHECKED_PATH",
            "STALE_HEARTBEAT",
        ] {
            assert!(
                !found.contains(&code.to_string()),
                "{code} in cycle {}",
                c["cycle"]
            );
        }
    }
    for lock in locks {
        assert!(r.join(lock).exists(), "{lock} is never removed by watch");
    }
    let alerts = std::fs::read_to_string(r.join("logs/operator_alerts.jsonl")).unwrap_or_default();
    assert!(
        !alerts.contains("STALE_LOCK") && !alerts.contains("STALE_HEARTBEAT"),
        "{alerts}"
    );
}

#[test]
fn watch_reports_a_lock_held_past_the_bot_timeout_with_its_holder() {
    let root = sample(&iso(now()));
    let aux = tempdir();
    let r = root.path();
    bot_timeout(r, "1s");
    let lock = "state/streak_state_alpha.json.lock";
    let mut cmd = Command::new("python3");
    let code = "import fcntl, sys, time\n\
                f = open(sys.argv[1])\n\
                fcntl.flock(f, fcntl.LOCK_EX)\n\
                open(sys.argv[2], 'w').write('ready')\n\
                time.sleep(600)\n";
    cmd.arg("-c")
        .arg(code)
        .arg(r.join(lock))
        .arg(aux.path().join("ready"));
    let holder = Guard::spawn(cmd, &aux.path().join("ready"));
    let cycles = watch(r, &["--cycles", "1", "--mode", "paper"]);
    let held: Vec<&Value> = cycles[0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "STALE_LOCK")
        .collect();
    assert_eq!(held.len(), 1, "{}", cycles[0]["findings"]);
    assert_eq!(held[0]["path"], lock);
    assert_eq!(held[0]["level"], "HIGH");
    assert_eq!(held[0]["details"]["holders"][0]["pid"], holder.pid());
    assert!(r.join(lock).exists());
}
