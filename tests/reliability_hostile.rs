//! Hostile conditions around recovery, rollback and the one file written outside the root,
//! each first found by an adversarial round outside this suite (kill chains beside a live
//! writer, kinds of paths swapped under a rollback, `--prometheus` aimed at links and at
//! the root's own files):
//!
//! - a `watch` killed at any of its fault points beside a bot that takes its flock and
//!   rewrites by rename, which then writes: the next `heal --mode real` starts (no
//!   recovery conflict), keeps the bot's version and has it and the pre-state in the store;
//! - a rollback, forced or not, of each kind of change (directory or file created, file
//!   replaced, directory or file removed) over each kind of path now there (file,
//!   directory, symlink, nothing): refused at plan time with exit 4 naming the path and
//!   both kinds, or done with what it replaces backed up; never a chmod of something else,
//!   never an error half way;
//! - `stats --prometheus FILE` through a symlink, at a device, inside the root, and `-`;
//! - `heal --mode paper` again and again beside a bot that rewrites the positions file by
//!   rename under its flock (some versions cut short, so heals salvage): no version of the
//!   bot is replaced while it holds its lock, and its last version stands.

#[cfg(feature = "fault-injection")]
use crate::support::arena::{in_store, temps_left};
use crate::support::arena::{journal_text, lost_bytes, summary, Arena};
use crate::support::{code, snapshot, stderr, Snapshot};
#[cfg(feature = "fault-injection")]
use sha2::Digest as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const POSITIONS: &str = "logs/positions_futures.json";
const PORTFOLIO: &str = "logs/portfolio_futures.json";

#[cfg(feature = "fault-injection")]
/// A bot-like writer, as a process of its own: waits for the flock on `<file>.lock`, writes
/// `text` to a temp file beside the file, fsyncs it, renames it over the file, unlocks.
pub fn bot_write(root: &Path, rel: &str, text: &str) {
    const SCRIPT: &str = r#"
import fcntl, os, sys
path, data = sys.argv[1], sys.argv[2].encode()
with open(path + ".lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    tmp = path + ".bot-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(root.join(rel))
        .arg(text)
        .output()
        .expect("run the bot-like writer");
    assert!(out.status.success(), "bot write: {}", stderr(&out));
}

#[cfg(feature = "fault-injection")]
fn sha_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(feature = "fault-injection")]
/// A healthy root (real mode starts) whose positions file the bot just rewrote without
/// `closed_positions`, which a watch cycle adds under the bot's lock.
fn root_for_watch() -> Arena {
    let a = Arena::new();
    let out = a.run(&["heal", "--mode", "real"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    bot_write(&a.root(), POSITIONS, BOT_BEFORE);
    a
}

#[cfg(feature = "fault-injection")]
const BOT_BEFORE: &str = r#"{"open_positions": [], "written_by": "the bot"}"#;

#[cfg(feature = "fault-injection")]
#[test]
fn a_watch_killed_beside_a_flock_bot_never_leaves_a_recovery_conflict() {
    use crate::support::arena::trace;
    let _part = summary::Part::start();
    let template = root_for_watch();
    let watch = [
        "watch",
        "--mode",
        "real",
        "--cycles",
        "1",
        "--interval",
        "0s",
    ];
    let points = trace(&Arena::copy_of(&template), &watch);
    assert!(points.len() > 10, "{points:?}");
    let mut kept = 0;
    for p in &points {
        let a = Arena::copy_of(&template);
        let out = a.output(
            a.cmd(&watch)
                .env("SELFHEAL_FAULT", format!("{}:crash", p.n)),
        );
        assert_eq!(code(&out), -6, "point {p:?} did not kill: {}", stderr(&out));
        // The watch's flock died with it: the bot takes it and writes its next version.
        let newer = format!(
            r#"{{"open_positions": [], "closed_positions": [], "after_kill_at": {}}}"#,
            p.n
        );
        bot_write(&a.root(), POSITIONS, &newer);
        let (rc, v) = a.json(&["heal", "--mode", "real"]);
        assert_eq!(rc, 0, "killed at {p:?}: real mode must start: {v}");
        assert_ne!(v["recovery"]["outcome"], "conflict", "killed at {p:?}: {v}");
        let now = std::fs::read(a.root().join(POSITIONS)).expect("read");
        assert_eq!(
            now,
            newer.as_bytes(),
            "killed at {p:?}: the bot's version kept"
        );
        let detail = v["recovery"]["detail"].as_str().unwrap_or("");
        if detail.contains("newer version") {
            kept += 1;
            let root = a.root();
            assert!(in_store(
                &root,
                &sha_hex(newer.as_bytes()),
                newer.as_bytes()
            ));
            assert!(in_store(
                &root,
                &sha_hex(BOT_BEFORE.as_bytes()),
                BOT_BEFORE.as_bytes()
            ));
            assert!(journal_text(&root).contains("\"kept_current\""), "{p:?}");
        }
        assert!(temps_left(&a.root()).is_empty(), "killed at {p:?}");
        let verify = a.run(&["journal", "verify"]);
        assert_eq!(code(&verify), 0, "killed at {p:?}: {}", stderr(&verify));
    }
    assert!(kept > 0, "no kill landed inside the cycle's transaction");
    println!(
        "killed watch beside a bot: {} kill points, {kept} recovered keeping the bot's version",
        points.len()
    );
    summary::count("watch kills beside a bot", points.len() as u64);
}

/// A kind of path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Absent,
    File,
    Dir,
    Symlink,
}

/// A committed transaction to roll back, on a copy of its root.
struct Target {
    name: &'static str,
    arena: Arena,
    txn: u64,
    path: &'static str,
    /// What the transaction found there, and what it left.
    before: Kind,
    after: Kind,
    /// The path as the transaction found it (what a rollback puts back).
    original: Snapshot,
}

fn heal_txn(a: &Arena) -> u64 {
    let (rc, v) = a.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v["transaction"].as_u64().expect("a transaction")
}

fn rollback_txn(a: &Arena, txn: u64) -> u64 {
    let (rc, v) = a.json(&["rollback", &txn.to_string()]);
    assert_eq!(rc, 0, "{v}");
    v["transaction"].as_u64().expect("a transaction")
}

fn only(a: &Arena, rel: &str) -> Snapshot {
    snapshot(&a.root())
        .into_iter()
        .filter(|(k, _)| k == rel || k.starts_with(&format!("{rel}/")))
        .collect()
}

/// The five kinds of change a rollback undoes.
fn targets() -> Vec<Target> {
    let base = Arena::new();
    heal_txn(&base);
    let mut out = Vec::new();
    let created_dir = Arena::copy_of(&base);
    std::fs::remove_dir(created_dir.root().join("data")).expect("rmdir data");
    let original = only(&created_dir, "data");
    let txn = heal_txn(&created_dir);
    let removed_dir = Arena::copy_of(&created_dir);
    let dir_snapshot = only(&removed_dir, "data");
    let undo = rollback_txn(&removed_dir, txn);
    out.push(target(
        "create_dir",
        created_dir,
        txn,
        "data",
        Kind::Absent,
        Kind::Dir,
        original,
    ));
    out.push(target(
        "remove_dir",
        removed_dir,
        undo,
        "data",
        Kind::Dir,
        Kind::Absent,
        dir_snapshot,
    ));
    let replaced = Arena::copy_of(&base);
    std::fs::write(replaced.root().join(PORTFOLIO), "").expect("empty the portfolio");
    let original = only(&replaced, PORTFOLIO);
    let txn = heal_txn(&replaced);
    out.push(target(
        "replace_file",
        replaced,
        txn,
        PORTFOLIO,
        Kind::File,
        Kind::File,
        original,
    ));
    let created = Arena::copy_of(&base);
    std::fs::remove_file(created.root().join(POSITIONS)).expect("rm positions");
    let original = only(&created, POSITIONS);
    let txn = heal_txn(&created);
    let removed = Arena::copy_of(&created);
    let file_snapshot = only(&removed, POSITIONS);
    let undo = rollback_txn(&removed, txn);
    out.push(target(
        "create_file",
        created,
        txn,
        POSITIONS,
        Kind::Absent,
        Kind::File,
        original,
    ));
    out.push(target(
        "remove_file",
        removed,
        undo,
        POSITIONS,
        Kind::File,
        Kind::Absent,
        file_snapshot,
    ));
    out
}

fn target(
    name: &'static str,
    arena: Arena,
    txn: u64,
    path: &'static str,
    before: Kind,
    after: Kind,
    original: Snapshot,
) -> Target {
    Target {
        name,
        arena,
        txn,
        path,
        before,
        after,
        original,
    }
}

/// Makes `rel` a path of `kind` (a file or a directory of the user's, never what the
/// transaction left there).
fn make(a: &Arena, rel: &str, kind: Kind) {
    let p = a.root().join(rel);
    match std::fs::symlink_metadata(&p) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(&p).expect("rm -r"),
        Ok(_) => std::fs::remove_file(&p).expect("rm"),
        Err(_) => {}
    }
    match kind {
        Kind::Absent => {}
        Kind::File => {
            std::fs::write(&p, "the user's own file\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        Kind::Dir => {
            std::fs::create_dir(&p).expect("mkdir");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::fs::write(p.join("keep.txt"), "the user's\n").expect("write");
        }
        Kind::Symlink => {
            let to = a.sentinel_dir().join("notes.txt");
            std::os::unix::fs::symlink(to, &p).expect("symlink");
        }
    }
}

/// What a rollback of `t` must do when the path is now `now`.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// Exit 4, nothing changed; `true`: a kind mismatch, named as such.
    Refused(bool),
    /// Exit 0, the path put back as the transaction found it.
    PutBack,
    /// Exit 0, nothing changed (a directory no longer empty is kept).
    Kept,
}

fn want(t: &Target, now: Kind, force: bool) -> Want {
    let allowed = now == Kind::Absent || now == t.before || now == t.after;
    if now == Kind::Symlink || !allowed {
        return Want::Refused(true);
    }
    // The user's file and directory differ from whatever the transaction left, except a
    // directory of the same mode where it created or removed one.
    let changed = match now {
        Kind::Absent => t.after != Kind::Absent,
        Kind::Dir => t.after != Kind::Dir,
        _ => true,
    };
    let not_empty_created_dir = now == Kind::Dir && t.after == Kind::Dir;
    match (changed || not_empty_created_dir, force) {
        (true, false) => Want::Refused(false),
        _ if now == Kind::Dir => Want::Kept,
        _ => Want::PutBack,
    }
}

fn kind_words(k: Kind) -> &'static str {
    match k {
        Kind::Absent => "absent",
        Kind::File => "a file",
        Kind::Dir => "a directory",
        Kind::Symlink => "a symlink",
    }
}

#[test]
fn a_rollback_never_turns_one_kind_of_path_into_another() {
    let _part = summary::Part::start();
    let mut cases = 0;
    for t in targets() {
        for now in [Kind::File, Kind::Dir, Kind::Symlink, Kind::Absent] {
            for force in [false, true] {
                let a = Arena::copy_of(&t.arena);
                make(&a, t.path, now);
                let pre = snapshot(&a.root());
                let id = t.txn.to_string();
                let mut args = vec!["rollback", id.as_str()];
                if force {
                    args.push("--force");
                }
                let out = a.run(&args);
                let case = format!("{} with {now:?} there, force {force}", t.name);
                let w = want(&t, now, force);
                check_case(&a, &t, &pre, &out, &w, now, &case);
                cases += 1;
            }
        }
    }
    summary::count("rollback kind swaps", cases);
}

fn check_case(
    a: &Arena,
    t: &Target,
    pre: &Snapshot,
    out: &std::process::Output,
    w: &Want,
    now: Kind,
    case: &str,
) {
    let err = stderr(out);
    match w {
        Want::Refused(mismatch) => {
            assert_eq!(code(out), 4, "{case}: {err}");
            assert!(err.contains(t.path), "{case}: names the path: {err}");
            if *mismatch {
                assert!(
                    err.contains(kind_words(now)),
                    "{case}: names what it is: {err}"
                );
                assert!(
                    err.contains(kind_words(t.before)),
                    "{case}: names the other kind: {err}"
                );
            }
            assert!(snapshot(&a.root()) == *pre, "{case}: changed something");
        }
        Want::Kept => {
            assert_eq!(code(out), 0, "{case}: {err}");
            assert!(snapshot(&a.root()) == *pre, "{case}: changed something");
        }
        Want::PutBack => {
            assert_eq!(code(out), 0, "{case}: {err}");
            let back = only(a, t.path);
            let same = crate::support::without_mtimes(&back)
                == crate::support::without_mtimes(&t.original);
            assert!(same, "{case}: not put back: {back:?} vs {:?}", t.original);
            assert_eq!(
                lost_bytes(pre, &a.root()),
                0,
                "{case}: what it replaced is backed up"
            );
        }
    }
}

#[test]
fn prometheus_metrics_are_written_through_a_symlink_never_over_one_nor_inside_the_root() {
    let _part = summary::Part::start();
    let mut a = Arena::new();
    let out = a.run(&["heal"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A link to a regular file: the file is rewritten, the link stays.
    let real = a.aux("real.prom");
    std::fs::write(&real, "old\n").expect("write");
    let link = a.aux("link.prom");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    // A link to a device, as `/dev/stdout` is, and one into the root.
    let device = a.aux("stdout.prom");
    std::os::unix::fs::symlink("/dev/null", &device).expect("symlink");
    let into_root = a.aux("into-root.prom");
    std::os::unix::fs::symlink(a.root().join(PORTFOLIO), &into_root).expect("symlink");
    a.seal();
    let state = snapshot(&a.root());
    let journal = journal_text(&a.root());
    let out = a.run(&["stats", "--prometheus", link.to_str().expect("utf8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
    let text = std::fs::read_to_string(&real).expect("read");
    assert!(text.contains("selfheal_runs_total"), "{text}");
    let journal_file = a.root().join("logs/backups/journal/txn-0000000001.jsonl");
    let refused: [&Path; 4] = [
        &device,
        &into_root,
        &a.root().join(PORTFOLIO),
        &journal_file,
    ];
    for target in refused {
        let out = a.run(&["stats", "--prometheus", target.to_str().expect("utf8")]);
        assert_eq!(code(&out), 16, "{}: {}", target.display(), stderr(&out));
        assert!(
            stderr(&out).contains(target.to_str().expect("utf8")),
            "{}",
            stderr(&out)
        );
    }
    assert!(std::fs::symlink_metadata(&device)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(&into_root)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert!(snapshot(&a.root()) == state, "the root changed");
    assert_eq!(journal_text(&a.root()), journal, "the journal changed");
    // Run from aux/: a binary taking `-` for a file name would write `aux/-`, counted below.
    let out = a.output(
        a.cmd(&["stats", "--prometheus", "-"])
            .current_dir(a.aux("")),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("selfheal_runs_total"));
    let out = a.run(&["--json", "stats", "--prometheus", "-"]);
    assert_eq!(code(&out), 16, "two documents on stdout: {}", stderr(&out));
    // Nothing but the real file changed beside the root.
    let names: Vec<String> = std::fs::read_dir(a.aux(""))
        .expect("ls aux")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    summary::count("prometheus targets", 6);
}

/// A bot-like process that, until the file `stop` exists, loads the positions file, checks
/// it still holds the version it last saved, and saves the next one — each time under its
/// flock, by temp, fsync and rename, as the reference bot does. Each version lacks
/// `closed_positions`, so every heal beside it has a repair to apply (the key restored,
/// `seq` kept). A version it finds older than the one it last saved is a write lost to a
/// replacement made behind its lock: logged as `lost`. Its log holds one line per save.
const RACING_BOT: &str = r#"
import fcntl, json, os, sys, time
path, log, stop = sys.argv[1], sys.argv[2], sys.argv[3]
seq = 0
with open(log, "w") as done:
    while not os.path.exists(stop):
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(path) as f:
                    seen = json.load(f).get("seq", 0)
            except (OSError, ValueError):
                seen = None
            if seq and seen != seq:
                done.write(f"lost {seq}: found {seen}\n")
            seq += 1
            tmp = path + ".bot-tmp"
            with open(tmp, "w") as f:
                f.write(json.dumps({"open_positions": [], "seq": seq}, indent=2))
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
            fcntl.flock(lock, fcntl.LOCK_UN)
        done.write(f"{seq}\n")
        done.flush()
        time.sleep(0.001)
"#;

#[test]
fn a_paper_heal_racing_a_bot_that_rewrites_by_rename_never_overwrites_its_writes() {
    let _summary = summary::Part::start();
    let a = Arena::new();
    assert_eq!(a.json(&["heal"]).0, 0);
    let file = a.root().join(POSITIONS);
    let log = a.aux("racing-bot.log");
    let stop = a.aux("racing-bot.stop");
    let mut bot = Command::new("python3")
        .args(["-c", RACING_BOT])
        .arg(&file)
        .arg(&log)
        .arg(&stop)
        .spawn()
        .expect("python3 is required by the tests");
    let heals = 60u64;
    let mut repaired = 0u64;
    for _ in 0..heals {
        // Each rename waits 20 ms after its last check: a bot write unguarded by its lock
        // would land in that window.
        let mut cmd = a.cmd(&["--json", "heal", "--mode", "paper"]);
        cmd.env("SELFHEAL_FAULT_STALL_RENAME_MS", "20");
        let out = crate::support::arena::output_within(&mut cmd, crate::support::arena::RUN_LIMIT);
        crate::support::arena::observe_run(&out);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a report");
        if v["actions"].to_string().contains(POSITIONS) {
            repaired += 1;
        }
    }
    std::fs::write(&stop, "").expect("stop the bot");
    assert!(bot.wait().expect("wait").success(), "the bot failed");
    let lines = std::fs::read_to_string(&log).expect("bot log");
    let lost: Vec<&str> = lines.lines().filter(|l| l.starts_with("lost")).collect();
    assert!(
        lost.is_empty(),
        "bot writes replaced behind its lock: {lost:?}"
    );
    let writes = lines.lines().count() as u64;
    assert!(
        writes > 0 && repaired > 0,
        "{writes} writes, {repaired} repairs"
    );
    assert_eq!(code(&a.run(&["journal", "verify"])), 0);
    println!("{heals} paper heals ({repaired} repairing the positions file) beside {writes} bot writes by rename");
    summary::count("heals racing a bot", heals);
}
