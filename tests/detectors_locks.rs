//! Lock files: a stale one is removed only when old, not held (flock) and naming no live
//! process; rollback puts it back byte for byte with its mode and its old mtime. An idle
//! lock file is never reported; the lock of a managed file is held by selfheal for the
//! whole run, so it is never removed.

use crate::support::procs::{age, bot, get, mode, mtime_ns, put, selfheal, tempdir, Guard};
use std::path::Path;
use std::process::Command;

/// The lock of a file selfheal does not manage.
const LOCK: &str = "logs/orders_futures.json.lock";
/// The lock of the managed positions file.
const POSITIONS_LOCK: &str = "logs/positions_futures.json.lock";

/// A root whose bot lock timeout is short (a held lock is reported after 1 s).
fn short_timeout(r: &Path) {
    put(
        r,
        "config/selfheal.json",
        br#"{"locks": {"bot_timeout": "1s"}}"#,
    );
}

#[test]
fn stale_unheld_lock_is_removed_and_rollback_restores_it() {
    let root = tempdir();
    let r = root.path();
    let lock = put(r, LOCK, b"");
    let state_lock = put(r, "state/streak_state_alpha.json.lock", b"4194304\n");
    let store_lock = put(r, "feature_store/hold_time_policy.json.lock", b"");
    let positions_lock = put(r, POSITIONS_LOCK, b"");
    crate::support::procs::chmod(&lock, 0o640);
    age(&lock, 1000);
    age(&state_lock, 5000);
    age(&store_lock, 5000);
    age(&positions_lock, 5000);
    let positions_mtime = mtime_ns(&positions_lock);
    let (mode_before, mtime_before) = (mode(&lock), mtime_ns(&lock));
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.healed(&format!("Removed stale lock: {LOCK} (age 10")));
    assert!(run.healed("Removed stale lock: state/streak_state_alpha.json.lock (age 50"));
    assert!(run.healed("Removed stale lock: feature_store/hold_time_policy.json.lock (age 50"));
    assert_eq!(run.stat("locks_cleared"), 3);
    assert!(!lock.exists() && !state_lock.exists() && !store_lock.exists());
    // The positions file's lock is the bot's lock selfheal held for this run: kept, as it
    // was, and not reported.
    assert_eq!(mtime_ns(&positions_lock), positions_mtime);
    assert!(run.findings("STALE_LOCK").is_empty());

    let rb = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(get(r, LOCK).as_deref(), Some(&b""[..]));
    assert_eq!(
        get(r, "state/streak_state_alpha.json.lock").as_deref(),
        Some(&b"4194304\n"[..])
    );
    assert_eq!(mode(&lock), mode_before);
    assert_eq!(
        mtime_ns(&lock),
        mtime_before,
        "a restored lock keeps its mtime"
    );

    // Still stale after the rollback: the next heal removes it again.
    let again = selfheal(r, &["heal"]);
    assert_eq!(again.stat("locks_cleared"), 3, "{}", again.stderr);
    assert!(positions_lock.exists());
}

/// `python3 -c` holding an exclusive flock on `lock`, ready once it holds it.
fn holder(lock: &Path, ready: &Path) -> Guard {
    let code = "import fcntl, sys, time\n\
                f = open(sys.argv[1])\n\
                fcntl.flock(f, fcntl.LOCK_EX)\n\
                open(sys.argv[2], 'w').write('ready')\n\
                time.sleep(600)\n";
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(code).arg(lock).arg(ready);
    Guard::spawn(cmd, ready)
}

#[test]
fn lock_held_past_the_bot_timeout_is_kept_and_reported_with_its_holder() {
    let root = tempdir();
    let aux = tempdir();
    let r = root.path();
    short_timeout(r);
    let lock = put(r, LOCK, b"held");
    age(&lock, 3600);
    let mut child = holder(&lock, &aux.path().join("ready"));
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(get(r, LOCK).as_deref(), Some(&b"held"[..]));
    assert_eq!(run.stat("locks_cleared"), 0);
    let f = run.findings("STALE_LOCK");
    assert_eq!(f.len(), 1, "{:?}", run.json["findings"]);
    assert_eq!(f[0]["path"], LOCK);
    assert_eq!(f[0]["level"], "HIGH");
    assert_eq!(f[0]["details"]["holders"][0]["pid"], child.pid());
    let message = f[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("held by {} (", child.pid()))
            && message.contains("python3 -c import fcntl")
            && message.contains("longer than the bot's lock timeout (1 s)"),
        "{message}"
    );
    assert!(child.running());
}

#[test]
fn stale_lock_naming_a_live_pid_is_kept() {
    let root = tempdir();
    let r = root.path();
    let me = std::process::id().to_string();
    let lock = put(r, LOCK, me.as_bytes());
    age(&lock, 3600);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(get(r, LOCK).as_deref(), Some(me.as_bytes()));
    let f = run.findings("STALE_LOCK");
    assert_eq!(f.len(), 1);
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains(&format!("names live process {me}"))));
}

#[test]
fn fresh_lock_is_kept_silently() {
    let root = tempdir();
    let r = root.path();
    let lock = put(r, LOCK, b"");
    age(&lock, 60);
    let before = mtime_ns(&lock);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(lock.exists());
    assert_eq!(mtime_ns(&lock), before);
    assert!(run.findings("STALE_LOCK").is_empty());
    assert_eq!(run.stat("locks_cleared"), 0);
}

#[test]
fn stale_lock_is_kept_while_a_bot_runs() {
    let root = tempdir();
    let aux = tempdir();
    let r = root.path();
    let lock = put(r, LOCK, b"");
    age(&lock, 3600);
    let mut b = bot(
        &aux.path().join("run.py"),
        r,
        &aux.path().join("ready"),
        false,
    );
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(lock.exists());
    assert_eq!(run.stat("locks_cleared"), 0);
    assert!(
        run.findings("STALE_LOCK").is_empty(),
        "an idle lock is never reported: {}",
        run.json["findings"]
    );
    assert!(b.running());
}
