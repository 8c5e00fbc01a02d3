//! `watch` on its own: a cycle with nothing to do writes nothing at all; findings alone are
//! alerted once and recorded nowhere else; retention keeps the journal bounded and a file
//! damaged every cycle escalates; sd_notify messages reach a real datagram socket (path and
//! abstract), with watchdog pings while sleeping; SIGTERM and SIGINT end the pause at once;
//! a busy lock skips a cycle; in real mode a second bot instance is a DUPLICATE_INSTANCE
//! that stops every write and nobody is signalled; a damaged file under the bot's lock is
//! reported only once the lock is released; exit codes.

use crate::support::exact_tree;
use crate::support::journal::journal_names;
use crate::support::procs::{bot, now, put, selfheal, tempdir, Guard};
use crate::support::states::{root_with_history, FOUR_FILES as CONFIG};
use crate::support::watch::{alerts, findings_of, Watch};
use serde_json::Value;
use std::ops::ControlFlow;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

/// `selfheal --root ROOT --json watch ARGS` run to its end; its cycle lines and exit code.
fn watch_run(root: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let out = crate::support::bin()
        .arg("--root")
        .arg(root)
        .arg("--json")
        .arg("watch")
        .args(args)
        .output()
        .expect("run watch");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let rc = out.status.code();
    assert!(
        rc.is_some(),
        "killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (rc.unwrap_or(-1), lines)
}

fn healed_root() -> tempfile::TempDir {
    let dir = tempdir();
    let run = selfheal(dir.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    dir
}

#[test]
fn a_cycle_with_nothing_to_do_writes_nothing_at_all() {
    let dir = healed_root();
    let before = exact_tree(dir.path());
    let (rc, cycles) = watch_run(dir.path(), &["--cycles", "3", "--interval", "0s"]);
    assert_eq!(rc, 0);
    assert_eq!(cycles.len(), 3);
    for c in &cycles {
        assert_eq!(c["outcome"], "checked", "{c}");
        assert!(c["transaction"].is_null());
    }
    assert_eq!(
        cycles[2]["next_in_ms"],
        Value::Null,
        "the last cycle has no next"
    );
    assert_eq!(
        exact_tree(dir.path()),
        before,
        "no journal record, no lock file, nothing"
    );
}

#[test]
fn findings_alone_are_alerted_once_and_recorded_nowhere_else() {
    let dir = healed_root();
    let r = dir.path();
    let hb = format!("{}\n", now() - 5000);
    put(r, "logs/.bot_heartbeat", hb.as_bytes());
    let journal = journal_names(r);
    let (rc, cycles) = watch_run(r, &["--cycles", "3", "--interval", "0s"]);
    assert_eq!(rc, 0);
    for c in &cycles {
        assert_eq!(c["outcome"], "checked", "{c}");
        assert_eq!(findings_of(c, "STALE_HEARTBEAT").len(), 1, "{c}");
    }
    assert_eq!(
        cycles[2]["alerts_suppressed"], 1,
        "later cycles count the repeat"
    );
    assert_eq!(alerts(r, "STALE_HEARTBEAT").len(), 1, "appended once");
    assert_eq!(journal_names(r), journal, "no journal record");
    assert_eq!(
        std::fs::read(r.join("logs/.bot_heartbeat")).ok(),
        Some(hb.into_bytes())
    );
}

/// A config whose retention keeps 3 transactions, pruning as it goes.
fn retention_config() -> String {
    CONFIG.replace(
        r#""keep": 200, "older_than": "30d", "warn_size": "1GiB", "auto": false"#,
        r#""keep": 3, "older_than": "0s", "warn_size": "1GiB", "auto": true"#,
    )
}

#[test]
fn retention_bounds_the_journal_and_a_file_damaged_every_cycle_escalates() {
    // Two days of history (escalation waits for a day of it); retention prunes that run in
    // the first cycle, and its age is carried.
    let f = root_with_history(&retention_config());
    let opts = selfheal::Options {
        root: f.root(),
        mode: Some(selfheal::Mode::Paper),
        ..selfheal::Options::default()
    };
    let w = selfheal::WatchOptions {
        interval: Duration::ZERO,
        cycles: Some(12),
        notify: None,
    };
    let mut seen = Vec::new();
    let summary = selfheal::watch(&opts, &w, |c| {
        seen.push(serde_json::to_value(c).expect("json"));
        f.write("state/a.json", "");
        ControlFlow::Continue(())
    })
    .expect("watch");
    assert_eq!(summary.cycles, 12);
    assert_eq!(seen[0]["outcome"], "committed", "cycle 1 creates the files");
    for c in &seen[1..] {
        assert_eq!(c["outcome"], "committed", "{c}");
        let applied: Vec<&Value> = c["actions"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["result"] == "applied").collect())
            .unwrap_or_default();
        assert_eq!(applied.len(), 1, "{c}");
        assert_eq!(applied[0]["path"], "state/a.json");
    }
    let escalated: Vec<u64> = seen
        .iter()
        .filter(|c| !findings_of(c, "HEALING_ESCALATION").is_empty())
        .filter_map(|c| c["cycle"].as_u64())
        .collect();
    assert_eq!(
        escalated.first(),
        Some(&3),
        "the third heal of state/a.json escalates"
    );
    assert_eq!(
        alerts(&f.root(), "HEALING_ESCALATION").len(),
        1,
        "alerted once"
    );
    let (rc, list) = f.json(&["journal", "list"]);
    assert_eq!(rc, 0, "{list}");
    let kept = list["transactions"].as_array().map_or(0, Vec::len);
    assert!(
        kept <= 6,
        "12 watch transactions, retention keeps 3 (+ prunes): {list}"
    );
    let (_, stats) = f.json(&["stats"]);
    assert_eq!(
        stats["runs"], 13,
        "pruned runs still count (12 watch cycles and the first heal): {stats}"
    );
    let first = stats["first_run"].as_str().unwrap_or_default();
    let began = chrono::DateTime::parse_from_rfc3339(first).map(|t| t.timestamp());
    assert!(
        began.is_ok_and(|t| now() - t >= 47 * 3600),
        "the first run's time is carried across prunes: {stats}"
    );
    crate::support::states::verify_ok(&f);
}

/// Every datagram `sock` receives until `STOPPING=1`.
fn datagrams(sock: &UnixDatagram) -> Vec<String> {
    sock.set_read_timeout(Some(crate::support::watch::PATIENCE))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .expect("a notification within the patience");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let stop = msg == "STOPPING=1";
        out.push(msg);
        if stop {
            return out;
        }
    }
}

/// Runs watch with `NOTIFY_SOCKET=socket` while reading what `sock` receives, until
/// `STOPPING=1`; returns the exit code and the messages.
fn notify_run(
    root: &Path,
    sock: &UnixDatagram,
    socket: &str,
    args: &[&str],
    watchdog_usec: Option<&str>,
) -> (i32, Vec<String>) {
    let mut cmd = crate::support::bin();
    cmd.arg("--root")
        .arg(root)
        .arg("-q")
        .arg("watch")
        .args(args);
    cmd.env("NOTIFY_SOCKET", socket).env_remove("WATCHDOG_PID");
    match watchdog_usec {
        Some(u) => cmd.env("WATCHDOG_USEC", u),
        None => cmd.env_remove("WATCHDOG_USEC"),
    };
    let mut child = Guard {
        child: cmd.spawn().expect("spawn watch"),
    };
    let msgs = datagrams(sock);
    let status = child.child.wait().expect("wait");
    (status.code().unwrap_or(-1), msgs)
}

fn check_sequence(msgs: &[String], cycles: usize) {
    let statuses: Vec<&String> = msgs.iter().filter(|m| m.starts_with("STATUS=")).collect();
    assert_eq!(statuses.len(), cycles, "{msgs:?}");
    for (i, m) in statuses.iter().enumerate() {
        assert!(
            m.starts_with(&format!("STATUS=[watch] cycle {}: ", i + 1)),
            "{m}"
        );
        assert!(m.lines().any(|l| l == "WATCHDOG=1"), "{m}");
        assert_eq!(
            m.lines().any(|l| l == "READY=1"),
            i == 0,
            "READY once, first: {m}"
        );
    }
    assert_eq!(msgs.last().map(String::as_str), Some("STOPPING=1"));
}

#[test]
fn sd_notify_reaches_a_path_socket_and_an_abstract_one() {
    let dir = healed_root();
    let aux = tempdir();
    let path = aux.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    let args = ["--cycles", "2", "--interval", "0s"];
    let (rc, msgs) = notify_run(dir.path(), &sock, path.to_str().expect("utf8"), &args, None);
    assert_eq!(rc, 0);
    check_sequence(&msgs, 2);

    use std::os::linux::net::SocketAddrExt;
    let name = format!("selfheal-test-{}-{}", std::process::id(), now());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
    let abstract_sock = UnixDatagram::bind_addr(&addr).expect("bind abstract");
    let (rc, msgs) = notify_run(dir.path(), &abstract_sock, &format!("@{name}"), &args, None);
    assert_eq!(rc, 0);
    check_sequence(&msgs, 2);
}

#[test]
fn the_watchdog_is_pinged_while_sleeping() {
    let dir = healed_root();
    let aux = tempdir();
    let path = aux.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    // A 100 ms watchdog wants a ping every 50 ms; the 600 ms pause must carry several.
    let args = ["--cycles", "2", "--interval", "600ms"];
    let socket = path.to_str().expect("utf8");
    let (rc, msgs) = notify_run(dir.path(), &sock, socket, &args, Some("100000"));
    assert_eq!(rc, 0);
    check_sequence(&msgs, 2);
    let first = msgs
        .iter()
        .position(|m| m.starts_with("STATUS=[watch] cycle 1"));
    let second = msgs
        .iter()
        .position(|m| m.starts_with("STATUS=[watch] cycle 2"));
    let between = msgs[first.expect("cycle 1") + 1..second.expect("cycle 2")]
        .iter()
        .filter(|m| *m == "WATCHDOG=1")
        .count();
    assert!(between >= 3, "{between} pings in a 600 ms pause: {msgs:?}");
}

fn signal_ends_the_pause(signal: rustix::process::Signal) {
    let dir = healed_root();
    let aux = tempdir();
    let mut w = Watch::spawn(
        dir.path(),
        &["--interval", "1h"],
        &[],
        &aux.path().join("stderr"),
    );
    w.wait_cycle(1);
    w.signal(signal);
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", w.stderr());
    assert_eq!(w.last(), 1, "no cycle after the signal");
}

#[test]
fn sigterm_during_the_pause_ends_watch_at_once() {
    signal_ends_the_pause(rustix::process::Signal::TERM);
}

#[test]
fn sigint_during_the_pause_ends_watch_at_once() {
    signal_ends_the_pause(rustix::process::Signal::INT);
}

#[test]
fn a_busy_lock_skips_the_cycle_without_failing() {
    let dir = healed_root();
    let lock = std::fs::File::open(dir.path().join("logs/backups")).expect("open backups dir");
    lock.lock().expect("take selfheal's lock");
    let (rc, cycles) = watch_run(
        dir.path(),
        &[
            "--cycles",
            "2",
            "--interval",
            "0s",
            "--lock-timeout",
            "200ms",
        ],
    );
    assert_eq!(rc, 0);
    assert_eq!(cycles.len(), 2);
    for c in &cycles {
        assert_eq!(c["outcome"], "lock_busy", "{c}");
        assert!(c["lock_waited_ms"].as_u64() >= Some(200), "{c}");
    }
    lock.unlock().expect("unlock");
    let (rc, cycles) = watch_run(dir.path(), &["--cycles", "1", "--interval", "0s"]);
    assert_eq!((rc, cycles[0]["outcome"].as_str()), (0, Some("checked")));
}

/// A state file read while the bot holds its lock may be half written (the reference bot
/// rewrites it in place under that lock): in real mode it is neither a DATA_INTEGRITY
/// critical nor an alert, only skipped, for as long as the lock is held; once released, a
/// real corruption is reported and alerted as usual. Nothing is written either way.
#[test]
fn a_damaged_file_under_the_bots_lock_is_reported_only_once_the_lock_is_released() {
    let dir = healed_root();
    let root = dir.path();
    let rel = "logs/positions_futures.json";
    let pos = root.join(rel);
    let doc = r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": 1.5, "size": 2.0, "leverage": 3}, {"symbol": "ETHUSDT", "direction": "SHORT", "strategy": "s", "entry_price": 2.5, "size": 1.0, "leverage": 2}], "closed_positions": []}"#;
    let cut = &doc.as_bytes()[..doc.find("ETHUSDT").expect("second record") + 3];
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(root.join(format!("{rel}.lock")))
        .expect("open the bot's lock");
    lock.lock().expect("take the bot's lock");
    std::fs::write(&pos, cut).expect("a half-written version");
    let args = ["--mode", "real", "--cycles", "2", "--interval", "0s"];
    let (rc, cycles) = watch_run(root, &args);
    assert_eq!(rc, 0);
    assert_eq!(cycles.len(), 2);
    for c in &cycles {
        assert_eq!(c["outcome"], "checked", "{c}");
        let integrity = findings_of(c, "DATA_INTEGRITY");
        assert!(
            integrity.iter().all(|f| f["path"] != rel),
            "reported while the bot held the lock: {c}"
        );
        assert!(
            crate::support::watch::skipped_locked(c, rel),
            "not reported as skipped: {c}"
        );
    }
    assert!(
        alerts(root, "DATA_INTEGRITY").is_empty(),
        "alerted under the lock"
    );
    lock.unlock().expect("release the bot's lock");
    let (rc, cycles) = watch_run(root, &args[..4]);
    assert_eq!(rc, 0);
    let integrity = findings_of(&cycles[0], "DATA_INTEGRITY");
    assert!(
        integrity
            .iter()
            .any(|f| f["path"] == rel && f["level"] == "CRITICAL"),
        "a real corruption is reported once the lock is free: {}",
        cycles[0]
    );
    assert_eq!(alerts(root, "DATA_INTEGRITY").len(), 1);
    assert_eq!(
        std::fs::read(&pos).expect("read"),
        cut,
        "real mode wrote it"
    );
}

fn two_bots(root: &Path, aux: &Path) -> (Guard, Guard) {
    let script = aux.join("run.py");
    (
        bot(&script, root, &aux.join("r1"), false),
        bot(&script, root, &aux.join("r2"), false),
    )
}

#[test]
fn real_mode_reports_a_second_instance_writes_nothing_and_signals_nobody() {
    let dir = healed_root();
    let r = dir.path();
    let aux = tempdir();
    let (mut a, mut b) = two_bots(r, aux.path());
    std::fs::write(r.join("logs/portfolio_futures.json"), b"").expect("empty portfolio");
    let journal = journal_names(r);
    let (rc, cycles) = watch_run(r, &["--mode", "real", "--cycles", "2", "--interval", "0s"]);
    assert_eq!(rc, 0);
    for c in &cycles {
        let dup = findings_of(c, "DUPLICATE_INSTANCE");
        assert_eq!(dup.len(), 1, "{c}");
        assert_eq!(dup[0]["level"], "CRITICAL");
        assert!(c["transaction"].is_null(), "{c}");
        assert!(
            c["failed"].to_string().contains("another bot instance"),
            "{c}"
        );
    }
    assert_eq!(journal_names(r), journal);
    assert_eq!(
        std::fs::read(r.join("logs/portfolio_futures.json")).ok(),
        Some(Vec::new())
    );
    assert_eq!(alerts(r, "DUPLICATE_INSTANCE").len(), 1);
    assert!(a.running() && b.running(), "nobody is signalled");

    // One instance is what watch expects: no duplicate, and the repair happens.
    drop(b);
    let (rc, cycles) = watch_run(r, &["--mode", "real", "--cycles", "1", "--interval", "0s"]);
    assert_eq!(rc, 0);
    assert!(
        findings_of(&cycles[0], "DUPLICATE_INSTANCE").is_empty(),
        "{}",
        cycles[0]
    );
    assert_eq!(cycles[0]["outcome"], "committed", "{}", cycles[0]);
    assert!(a.running());
}

#[test]
fn exit_codes() {
    let dir = healed_root();
    let r = dir.path();
    let code = |args: &[&str]| {
        crate::support::bin()
            .arg("--root")
            .arg(r)
            .args(args)
            .output()
            .expect("run")
            .status
            .code()
    };
    assert_eq!(code(&["watch", "--cycles", "0"]), Some(16));
    assert_eq!(code(&["watch", "--interval", "soon"]), Some(16));
    assert_eq!(
        code(&["watch", "--cycles", "1", "--interval", "0s"]),
        Some(0)
    );
    put(r, "config/selfheal.json", b"{\"nonsense\": 1}");
    assert_eq!(code(&["watch", "--cycles", "1"]), Some(16));
    std::fs::remove_file(r.join("config/selfheal.json")).expect("rm config");
    let missing = r.join("no-such-root");
    let out = crate::support::bin()
        .arg("--root")
        .arg(&missing)
        .args(["watch", "--cycles", "1"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad_socket = crate::support::bin()
        .arg("--root")
        .arg(r)
        .args(["watch", "--cycles", "1"])
        .env("NOTIFY_SOCKET", "relative/socket")
        .output()
        .expect("run");
    assert_eq!(bad_socket.status.code(), Some(16));
}
