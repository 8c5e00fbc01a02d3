//! Bot instances and orphans, with real processes: terminated only in explicit paper mode
//! (SIGTERM, then SIGKILL when ignored), only when older than `processes.min_age`, only when
//! their interpreter is python and their script `run.py` (look-alike command lines survive),
//! only when their cwd is in the root, and before any state file is written; reported
//! otherwise; in real mode a DUPLICATE_INSTANCE that stops every write. System directories
//! are refused as roots.

use crate::support::procs::{
    age, bot, get, now, put, selfheal, selfheal_env, snapshot, tempdir, Guard,
};
use std::path::Path;
use std::process::Command;

/// A root whose config makes terminations fast (1 s grace, no minimum age).
fn fast_root() -> tempfile::TempDir {
    let root = tempdir();
    put(
        root.path(),
        "config/selfheal.json",
        br#"{"processes": {"grace": "1s", "min_age": "0s"}}"#,
    );
    root
}

/// The bot stand-in, its script and ready file in `aux`, running in `cwd`.
fn bot_in(aux: &Path, cwd: &Path, ignore_term: bool) -> Guard {
    bot(&aux.join("run.py"), cwd, &aux.join("ready"), ignore_term)
}

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

#[test]
fn explicit_paper_mode_terminates_an_orphan_in_the_root() {
    let root = fast_root();
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), false);
    let run = selfheal(root.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 1);
    let line = format!("Terminated orphan process {} (", b.pid());
    assert!(
        run.list("healed")
            .iter()
            .any(|l| l.starts_with(&line) && l.contains("run.py")),
        "{:?}",
        run.list("healed")
    );
    assert_eq!(b.ended_by(), Some(SIGTERM));
    let shown = selfheal(root.path(), &["journal", "show", &run.txn()]);
    assert!(shown.json.to_string().contains("signal"), "{}", shown.json);
}

#[test]
fn trading_mode_paper_is_explicit_too() {
    let root = fast_root();
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), false);
    let run = selfheal_env(root.path(), &["heal"], &[("TRADING_MODE", "paper")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 1);
    assert_eq!(b.ended_by(), Some(SIGTERM));
}

#[test]
fn an_orphan_ignoring_sigterm_is_killed() {
    let root = fast_root();
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), true);
    let run = selfheal(root.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 1);
    assert_eq!(b.ended_by(), Some(SIGKILL));
}

#[test]
fn processes_outside_the_root_or_unrelated_survive() {
    let root = fast_root();
    let elsewhere = tempdir();
    let aux = tempdir();
    let r = root.path();
    let mut outside = bot(
        &aux.path().join("run.py"),
        elsewhere.path(),
        &aux.path().join("r1"),
        false,
    );
    let ready = aux.path().join("r2");
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg("import sys, time\nopen(sys.argv[1], 'w').write('x')\ntime.sleep(600)\n")
        .arg(&ready)
        .current_dir(r);
    let mut unrelated = Guard::spawn(cmd, &ready);
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 0);
    assert!(run.findings("BOT_INSTANCE").is_empty());
    assert!(outside.running() && unrelated.running());
}

#[test]
fn without_an_explicit_mode_nothing_is_signalled() {
    let root = fast_root();
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), false);
    let run = selfheal(root.path(), &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 0);
    let f = run.findings("BOT_INSTANCE");
    assert_eq!(f.len(), 1, "{}", run.json["findings"]);
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&b.pid().to_string())));
    assert!(b.running());
}

#[test]
fn real_mode_with_a_live_instance_signals_and_writes_nothing() {
    let root = fast_root();
    let aux = tempdir();
    let r = root.path();
    // Work a heal would do: a missing state tree, a stale lock, a stale heartbeat.
    let lock = put(r, "logs/positions_futures.json.lock", b"");
    age(&lock, 3600);
    put(
        r,
        "logs/.bot_heartbeat",
        format!("{}\n", now() - 9000).as_bytes(),
    );
    std::fs::create_dir_all(r.join("logs/backups")).expect("mkdir");
    let before = snapshot(r);
    let mut b = bot_in(aux.path(), r, false);
    for env in [vec![], vec![("TRADING_MODE", "live")]] {
        let args: &[&str] = if env.is_empty() {
            &["heal", "--mode", "real"]
        } else {
            &["heal"]
        };
        let run = selfheal_env(r, args, &env);
        assert_eq!(run.code, 4, "{}", run.stderr);
        assert_eq!(run.json["mode"], "real");
        assert!(run
            .list("critical")
            .iter()
            .any(|c| c.starts_with("DUPLICATE_INSTANCE")));
        assert_eq!(run.json["start_allowed"], false);
        assert!(run.json["actions"].as_array().is_some_and(Vec::is_empty));
        assert!(b.running(), "real mode signals nothing");
        assert_eq!(snapshot(r), before, "no state file is written");
    }
    assert!(get(r, "logs/positions_futures.json").is_none());
    let log = std::fs::read_to_string(r.join("logs/operator_alerts.jsonl")).expect("alert log");
    let alerts: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("alert line is JSON"))
        .collect();
    let dup = crate::support::bot::alerts_of(&alerts, "DUPLICATE_INSTANCE");
    assert_eq!(dup.len(), 1, "appended once, then deduplicated: {alerts:?}");
    crate::support::bot::assert_alert_shape(dup[0]);
    assert_eq!(dup[0]["level"], "CRITICAL");
    assert!(
        dup[0]["transaction"].is_u64(),
        "the run's transaction: {}",
        dup[0]
    );
}

#[test]
fn rollback_refuses_while_a_bot_runs_unless_forced() {
    let root = fast_root();
    let aux = tempdir();
    let r = root.path();
    let lock = put(r, "state/streak_state_alpha.json.lock", b"x");
    age(&lock, 3600);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.stat("locks_cleared"), 1, "{}", run.stderr);
    let _b = bot_in(aux.path(), r, false);
    let refused = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("bot instance is running"),
        "{}",
        refused.stderr
    );
    assert!(!lock.exists());
    let forced = selfheal(r, &["rollback", &run.txn(), "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        get(r, "state/streak_state_alpha.json.lock").as_deref(),
        Some(&b"x"[..])
    );
}

/// Recovery rewrites state files too: in real mode with a bot running it waits.
#[cfg(feature = "fault-injection")]
#[test]
fn real_mode_defers_recovery_while_a_bot_runs() {
    let setup = |r: &std::path::Path| {
        put(r, "logs/positions_futures.json", b"{}");
    };
    // Find the fault point of the positions file's rename on an identical root.
    let probe = fast_root();
    setup(probe.path());
    let traced = selfheal_env(probe.path(), &["heal"], &[("SELFHEAL_FAULT_TRACE", "1")]);
    let point = traced
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("fault-point "))
        .find(|l| l.contains(" Rename logs/positions_futures.json"))
        .and_then(|l| l.split(' ').next().map(str::to_string))
        .expect("a rename point");
    let root = fast_root();
    let aux = tempdir();
    let r = root.path();
    setup(r);
    let crash = format!("{point}:crash");
    let crashed = selfheal_env(r, &["heal"], &[("SELFHEAL_FAULT", crash.as_str())]);
    assert_ne!(crashed.code, 0, "the run was cut short");
    let before = snapshot(r);
    let mut b = bot_in(aux.path(), r, false);
    let run = selfheal(r, &["heal", "--mode", "real"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run
        .list("critical")
        .iter()
        .any(|c| c.starts_with("DUPLICATE_INSTANCE")));
    assert_eq!(snapshot(r), before, "recovery waits while the bot runs");
    assert!(b.running());
    drop(b);
    let later = selfheal(r, &["heal", "--mode", "real"]);
    assert_eq!(later.code, 0, "{}", later.stderr);
    assert_eq!(later.json["recovery"]["outcome"], "rolled_back");
}

/// A stand-in that, on SIGTERM, records the size the positions file has at that moment and
/// exits: the repair of that file must come after it.
const RECORDS_ON_TERM: &str = r#"import os, signal, sys, time
def on_term(*_):
    with open(sys.argv[2], "w") as f:
        f.write(str(os.path.getsize("logs/positions_futures.json")))
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(1)
"#;

const SLEEPER: &str = "import sys, time\nopen(sys.argv[1], 'w').write('x')\ntime.sleep(600)\n";

#[test]
fn a_bot_younger_than_min_age_is_not_terminated() {
    let root = tempdir();
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), false);
    let run = selfheal(root.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 0);
    let f = run.findings("BOT_INSTANCE");
    assert_eq!(f.len(), 1, "{}", run.json);
    assert!(
        f[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("younger than processes.min_age (3600 s)")),
        "{}",
        f[0]
    );
    assert!(b.running());
}

#[test]
fn a_bot_older_than_min_age_is_terminated() {
    let root = tempdir();
    put(
        root.path(),
        "config/selfheal.json",
        br#"{"processes": {"grace": "1s", "min_age": "2s"}}"#,
    );
    let aux = tempdir();
    let mut b = bot_in(aux.path(), root.path(), false);
    // Wait for the event (the plan terminating it), not for a number of seconds.
    let old_enough = crate::support::procs::wait_until(std::time::Duration::from_secs(60), || {
        let c = selfheal(root.path(), &["check", "--mode", "paper"]);
        c.json["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["heal"] == "orphan_process"))
    });
    assert!(old_enough, "the check never planned the termination");
    let run = selfheal(root.path(), &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 1, "{}", run.json);
    assert_eq!(b.ended_by(), Some(SIGTERM));
}

#[test]
fn look_alike_command_lines_survive_explicit_paper_mode() {
    use crate::support::procs::{python_exe, RUN_PY};
    use std::os::unix::process::CommandExt;
    let root = fast_root();
    let aux = tempdir();
    let (r, a) = (root.path(), aux.path());
    let ready = |n: &str| a.join(n);
    std::fs::create_dir_all(a.join("python")).expect("mkdir");
    for script in ["python/run.py.md", "run.py.md", "python_run.py", "run.py"] {
        std::fs::write(a.join(script), RUN_PY).expect("script");
    }
    let spawn = |mut cmd: Command, name: &str| {
        cmd.current_dir(r);
        Guard::spawn(cmd, &ready(name))
    };
    let mut decoys = Vec::new();
    let mut c = Command::new("python3");
    c.args(["-c", SLEEPER])
        .arg(ready("d1"))
        .arg("/x/python/run.py.md");
    decoys.push(spawn(c, "d1"));
    let mut c = Command::new(python_exe());
    c.arg0("vim")
        .arg(a.join("python/run.py.md"))
        .arg(ready("d2"));
    decoys.push(spawn(c, "d2"));
    let mut c = Command::new(python_exe());
    c.arg0("less").arg(a.join("run.py")).arg(ready("d3"));
    decoys.push(spawn(c, "d3"));
    let mut c = Command::new(python_exe());
    c.arg0("tail").args(["-c", SLEEPER]).arg(ready("d4"));
    c.args(["-f", "python_run.py.log"]);
    decoys.push(spawn(c, "d4"));
    let mut c = Command::new("python3");
    c.arg(a.join("run.py.md")).arg(ready("d5"));
    decoys.push(spawn(c, "d5"));
    let mut c = Command::new("python3");
    c.arg(a.join("python_run.py")).arg(ready("d6"));
    decoys.push(spawn(c, "d6"));
    for (name, argv0) in [("d7", "python3 run.py"), ("d8", "python3")] {
        let mut c = Command::new("bash");
        let script = format!(
            "touch '{}'; exec -a '{argv0}' sleep 600",
            ready(name).display()
        );
        c.args(["-c", &script]);
        decoys.push(spawn(c, name));
    }
    let mut real = bot_in(a, r, false);
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("orphans_killed"), 1, "{}", run.json);
    assert_eq!(real.ended_by(), Some(SIGTERM));
    for (i, d) in decoys.iter_mut().enumerate() {
        assert!(d.running(), "decoy d{} was signalled", i + 1);
    }
}

#[test]
fn terminations_complete_before_any_state_file_is_written() {
    let root = fast_root();
    let aux = tempdir();
    let r = root.path();
    put(r, "logs/positions_futures.json", b"");
    let script = aux.path().join("run.py");
    std::fs::write(&script, RECORDS_ON_TERM).expect("script");
    let (ready, seen) = (aux.path().join("ready"), aux.path().join("seen"));
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(&ready).arg(&seen).current_dir(r);
    let mut b = Guard::spawn(cmd, &ready);
    let run = selfheal(r, &["heal", "--mode", "paper"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = b.child.try_wait().expect("wait");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "gone (its SIGTERM handler exited) when the heal returned"
    );
    assert_eq!(
        std::fs::read_to_string(&seen).expect("the bot saw the file"),
        "0",
        "the positions file was still unrepaired when the bot was told to stop"
    );
    assert_eq!(
        run.json["actions"][0]["heal"], "orphan_process",
        "{}",
        run.json
    );
    assert!(get(r, "logs/positions_futures.json").is_some_and(|b| !b.is_empty()));
}

#[test]
fn system_directories_are_refused_as_roots() {
    for root in ["/", "/usr", "/etc", "/proc/self", "/var"] {
        for args in [&["check"][..], &["heal", "--dry-run"], &["journal", "list"]] {
            let run = selfheal(Path::new(root), args);
            assert_eq!(run.code, 16, "{root} {args:?}: {}", run.stderr);
            assert!(run.stderr.contains("as the state root"), "{}", run.stderr);
        }
    }
    // Under systemd the default working directory is `/`, and the default root is `.`.
    let out = crate::support::bin()
        .args(["--json", "check", "--mode", "paper"])
        .current_dir("/")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(16));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing / as the state root"), "{err}");
}
