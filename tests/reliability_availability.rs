//! Availability under hostile conditions, each first found by an adversarial round outside
//! this suite: one operation that can never be done must not stop the others (another
//! user's file under an unprivileged run, an immutable file), a repair must not lock a bot
//! out (extended attributes and POSIX ACLs kept, and put back by rollback), no write may
//! land over the size cap (and what was written over it still rolls back), `watch` must
//! outlive a transient error (a full disk, a lock name too long for the filesystem) and
//! stop only after several failed cycles in a row, and a small filesystem must not be
//! refused its first directories. Cases that need root (another uid, inode flags, a
//! mount) say so and are skipped elsewhere.

use crate::support::arena::{journal_text, lost_bytes, summary, Arena};
use crate::support::{chown_tree, code, snapshot, stderr};
use rustix::fs::IFlags;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

const POSITIONS: &str = "logs/positions_futures.json";
const PORTFOLIO: &str = "logs/portfolio_futures.json";
/// An emptied portfolio: a heal replaces it with the default.
const SHORT_PORTFOLIO: &str = "";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// An inode flag (`chattr +i`, `+a`) set on a path for as long as the guard lives.
struct Flagged(PathBuf);

impl Flagged {
    /// `None` when the filesystem or this process cannot set it.
    fn set(path: &Path, flags: IFlags) -> Option<Flagged> {
        let f = std::fs::File::open(path).ok()?;
        let old = rustix::fs::ioctl_getflags(&f).ok()?;
        rustix::fs::ioctl_setflags(&f, old | flags).ok()?;
        Some(Flagged(path.to_path_buf()))
    }
}

impl Drop for Flagged {
    fn drop(&mut self) {
        if let Ok(f) = std::fs::File::open(&self.0) {
            if let Ok(old) = rustix::fs::ioctl_getflags(&f) {
                let _ = rustix::fs::ioctl_setflags(&f, old - (IFlags::IMMUTABLE | IFlags::APPEND));
            }
        }
    }
}

/// `heal --mode <mode>` as JSON.
fn heal(a: &Arena, mode: &str) -> (i32, Value) {
    a.json(&["heal", "--mode", mode])
}

fn lines(v: &Value, key: &str) -> String {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A healed root, then damaged twice: `data/` removed and the portfolio emptied.
fn two_repairs() -> Arena {
    let a = Arena::new();
    let (rc, v) = heal(&a, "paper");
    assert_eq!(rc, 0, "{v}");
    std::fs::remove_dir(a.root().join("data")).expect("rmdir");
    std::fs::write(a.root().join(PORTFOLIO), SHORT_PORTFOLIO).expect("write");
    a
}

/// The portfolio is a failed heal naming `why`; the other repair (`data/`) is applied.
fn only_the_portfolio_failed(v: &Value, why: &str) {
    let failed = lines(v, "failed");
    assert!(failed.contains(PORTFOLIO) && failed.contains(why), "{v}");
    assert!(
        lines(v, "healed").contains("Created directory: data"),
        "{v}"
    );
}

#[test]
fn another_users_file_is_a_failed_heal_and_the_other_repairs_go_ahead() {
    let _part = summary::Part::start();
    if !is_root() {
        eprintln!("skipped: owning a file as another user needs root");
        return;
    }
    let a = two_repairs();
    let (nobody, other) = (65534, 12345);
    for p in [a.fx.dir.path().to_path_buf(), a.root()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    chown_tree(&a.root(), nobody);
    std::os::unix::fs::chown(a.root().join(PORTFOLIO), Some(other), Some(other)).expect("chown");
    let as_nobody = |args: &[&str]| {
        let mut cmd = a.cmd(args);
        cmd.uid(nobody).gid(nobody);
        a.output(&mut cmd)
    };
    if code(&as_nobody(&["--version"])) != 0 {
        eprintln!("skipped: the binary cannot be run as uid {nobody} here");
        return;
    }
    let before = std::fs::read(a.root().join(PORTFOLIO)).expect("read");
    for run in 0..2 {
        let out = as_nobody(&["--json", "heal", "--mode", "paper"]);
        assert_eq!(code(&out), 0, "run {run}: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        let failed = lines(&v, "failed");
        assert!(
            failed.contains(PORTFOLIO) && failed.contains("CAP_CHOWN"),
            "{v}"
        );
        if run == 0 {
            assert!(
                lines(&v, "healed").contains("Created directory: data"),
                "{v}"
            );
        }
    }
    let out = as_nobody(&["--json", "heal", "--mode", "real"]);
    assert_eq!(code(&out), 4, "a failed heal keeps real mode from starting");
    let md = std::fs::metadata(a.root().join(PORTFOLIO)).expect("stat");
    assert_eq!((md.uid(), md.gid()), (other, other));
    assert_eq!(
        std::fs::read(a.root().join(PORTFOLIO)).expect("read"),
        before
    );
    // Back to root's, so the arena's own checks and cleanup run as before.
    chown_tree(&a.root(), 0);
    summary::count("unavailable operations", 3);
}

#[test]
fn an_immutable_file_is_a_failed_heal_and_the_other_repairs_go_ahead() {
    let _part = summary::Part::start();
    let a = two_repairs();
    let Some(flag) = Flagged::set(&a.root().join(PORTFOLIO), IFlags::IMMUTABLE) else {
        eprintln!("skipped: cannot make a file immutable here (needs root and a filesystem with inode flags)");
        return;
    };
    let (rc, v) = heal(&a, "paper");
    assert_eq!(rc, 0, "{v}");
    only_the_portfolio_failed(&v, "immutable");
    let (rc, v) = heal(&a, "paper");
    assert_eq!(rc, 0, "the next run too: {v}");
    assert!(lines(&v, "failed").contains("immutable"), "{v}");
    assert_eq!(
        heal(&a, "real").0,
        4,
        "a failed heal keeps real mode from starting"
    );
    drop(flag);
    let (rc, v) = heal(&a, "real");
    assert_eq!(rc, 0, "once the flag is gone the file is repaired: {v}");
    summary::count("unavailable operations", 4);
}

fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    crate::support::xattrs_of(path)
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    crate::support::set_xattr(path, name, value).is_ok()
}

#[test]
fn a_repair_keeps_xattrs_and_acls_and_rollback_puts_them_back() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(heal(&a, "paper").0, 0);
    let file = a.root().join(PORTFOLIO);
    std::fs::write(&file, SHORT_PORTFOLIO).expect("write");
    // The ACL names the bot's user, 4321.
    let bot = 4321;
    if !crate::support::tag_with_xattrs(&a.root(), PORTFOLIO) {
        eprintln!("skipped: the arena's filesystem keeps no user xattrs or ACLs");
        return;
    }
    let pre = xattrs(&file);
    let pre_mode = std::fs::metadata(&file).expect("stat").mode() & 0o7777;
    let pre_bytes = std::fs::read(&file).expect("read");
    let (rc, v) = heal(&a, "paper");
    assert_eq!(rc, 0, "{v}");
    let txn = v["transaction"].as_u64().expect("txn").to_string();
    assert_ne!(std::fs::read(&file).expect("read"), pre_bytes, "replaced");
    assert_eq!(
        xattrs(&file),
        pre,
        "the replacement keeps every attribute and the ACL"
    );
    assert_eq!(
        std::fs::metadata(&file).expect("stat").mode() & 0o7777,
        pre_mode
    );
    assert!(
        journal_text(&a.root()).contains("system.posix_acl_access"),
        "recorded"
    );
    if is_root() {
        // The bot, running as the user its ACL names, can still write the file.
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; open(sys.argv[1], 'r+').close()"])
            .arg(&file)
            .uid(bot)
            .gid(bot)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "the bot is locked out: {}",
            stderr(&out)
        );
    }
    // Changed since: the rollback puts back what was recorded, not what is there now.
    assert!(set_xattr(&file, "user.origin", b"someone else"));
    let out = a.run(&["rollback", &txn]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).expect("read"), pre_bytes);
    assert_eq!(
        xattrs(&file),
        pre,
        "rollback restores the recorded attributes"
    );
    assert_eq!(
        std::fs::metadata(&file).expect("stat").mode() & 0o7777,
        pre_mode
    );
    summary::count("xattrs and ACLs kept", 2);
}

/// Open positions of `n` records, compact, without `closed_positions`.
fn compact_positions(n: usize) -> String {
    let recs: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"symbol":"BTC{i}","direction":"LONG","strategy":"s","entry_price":100.5,"size":1.0,"leverage":2}}"#))
        .collect();
    format!(r#"{{"open_positions":[{}]}}"#, recs.join(","))
}

#[test]
fn nothing_is_written_over_the_size_cap_and_rollback_restores_what_it_backed_up() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(heal(&a, "paper").0, 0);
    let text = compact_positions(12);
    std::fs::write(a.root().join(POSITIONS), &text).expect("write");
    // The repair adds `"closed_positions":[]`: 22 bytes more, over a cap just above the input.
    let cap = text.len() + 6;
    let cfg = a.config(&format!(r#"{{"limits": {{"max_file_size": "{cap}"}}}}"#));
    let cfg = cfg.to_str().expect("utf8");
    let (rc, v) = a.json(&["--config", cfg, "heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    assert!(
        lines(&v, "failed").contains("over limits.max_file_size"),
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(a.root().join(POSITIONS)).expect("read"),
        text
    );
    // Written under a larger cap, then the cap lowered: the rollback still restores it.
    let (rc, v) = a.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{v}");
    let txn = v["transaction"].as_u64().expect("txn").to_string();
    let written = std::fs::metadata(a.root().join(POSITIONS))
        .expect("stat")
        .len();
    assert!(written > cap as u64, "{written}");
    let pre = snapshot(&a.root());
    let out = a.run(&["--config", cfg, "rollback", &txn]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(a.root().join(POSITIONS)).expect("read"),
        text
    );
    assert_eq!(lost_bytes(&pre, &a.root()), 0);
    summary::count("writes over the size cap", 2);
}

/// `selfheal <global> --json watch --interval 0s <args>` on `a` with `env`, to the end:
/// its exit code, its cycle lines and its stderr.
fn watch(
    a: &Arena,
    global: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, Vec<Value>, String) {
    let mut all = global.to_vec();
    all.extend(["--json", "watch", "--interval", "0s"]);
    all.extend_from_slice(args);
    let mut cmd = a.cmd(&all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = a.output(&mut cmd);
    let cycles = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (code(&out), cycles, stderr(&out))
}

#[cfg(feature = "fault-injection")]
#[test]
fn watch_reports_a_transient_enospc_and_repairs_on_the_next_cycle() {
    use crate::support::arena::trace;
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(heal(&a, "paper").0, 0);
    std::fs::write(a.root().join(PORTFOLIO), SHORT_PORTFOLIO).expect("write");
    let one = ["watch", "--interval", "0s", "--cycles", "1"];
    let points = trace(&Arena::copy_of(&a), &one);
    let rename = points
        .iter()
        .find(|p| p.kind == "Rename" && p.path.ends_with(PORTFOLIO))
        .expect("the portfolio's rename");
    let fault = format!("{}:enospc", rename.n);
    let (rc, cycles, err) = watch(&a, &[], &["--cycles", "3"], &[("SELFHEAL_FAULT", &fault)]);
    assert_eq!(rc, 0, "one full disk does not end watch: {err}");
    assert_eq!(cycles.len(), 3, "{cycles:?}");
    assert_eq!(cycles[0]["outcome"], "failed", "{}", cycles[0]);
    let why = cycles[0]["error"].as_str().unwrap_or("");
    assert!(
        why.contains("No space left on device") && why.contains(PORTFOLIO),
        "{why}"
    );
    assert_eq!(cycles[0]["failures_in_a_row"], 1, "{}", cycles[0]);
    assert!(err.contains("cycle 1 failed"), "logged: {err}");
    assert_eq!(cycles[1]["outcome"], "committed", "{}", cycles[1]);
    let alerts =
        std::fs::read_to_string(a.root().join("logs/operator_alerts.jsonl")).unwrap_or_default();
    assert!(alerts.contains("WATCH_CYCLE_FAILED"), "{alerts}");
    let v: Value = serde_json::from_slice(&std::fs::read(a.root().join(PORTFOLIO)).expect("read"))
        .expect("json");
    assert!(
        v.get("used_margin").is_some(),
        "repaired by the next cycle: {v}"
    );
    summary::count("watch cycle failures", 1);
}

#[test]
fn watch_skips_a_file_whose_lock_name_is_too_long_and_goes_on() {
    let _part = summary::Part::start();
    let a = Arena::new();
    // 251 characters: the file fits the filesystem's 255, its `.lock` does not.
    let name = format!("state/{}.json", "x".repeat(246));
    let cfg = a.config(&format!(
        r#"{{"files": [{{"path": "{name}", "role": "json", "default": {{"n": 0}}}}]}}"#
    ));
    let cfg = cfg.to_str().expect("utf8");
    let out = a.run(&["--config", cfg, "heal", "--mode", "paper"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(a.root().join(&name), "").expect("empty it");
    let (rc, cycles, err) = watch(&a, &["--config", cfg], &["--cycles", "2"], &[]);
    assert_eq!(
        rc, 0,
        "a lock name the filesystem cannot hold does not end watch: {err}"
    );
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    for c in &cycles {
        let skipped = c["skipped"].to_string();
        assert!(
            skipped.contains("too long"),
            "the file is skipped, and says why: {c}"
        );
    }
    summary::count("watch cycle failures", 1);
}

#[test]
fn watch_ends_after_five_failed_cycles_in_a_row() {
    let _part = summary::Part::start();
    let a = Arena::new();
    assert_eq!(heal(&a, "paper").0, 0);
    std::fs::write(a.root().join(PORTFOLIO), SHORT_PORTFOLIO).expect("write");
    let journal = a.root().join("logs/backups/journal");
    let Some(flag) = Flagged::set(&journal, IFlags::IMMUTABLE) else {
        eprintln!("skipped: cannot make a directory immutable here (needs root and inode flags)");
        return;
    };
    let (rc, cycles, err) = watch(&a, &[], &["--cycles", "20"], &[]);
    drop(flag);
    assert_eq!(rc, 8, "{err}");
    let (done, end): (Vec<&Value>, Vec<&Value>) =
        cycles.iter().partition(|c| c.get("cycle").is_some());
    assert_eq!(done.len(), 5, "{cycles:?}");
    assert!(
        end.len() == 1 && end[0]["error"].is_string(),
        "then the error: {cycles:?}"
    );
    for (i, c) in done.iter().enumerate() {
        assert_eq!(c["outcome"], "failed", "{c}");
        assert_eq!(c["failures_in_a_row"], i as u64 + 1, "{c}");
    }
    summary::count("watch cycle failures", 5);
}

/// A tmpfs mounted over the arena's root for as long as the guard lives.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(at: &Path, size: &str) -> Option<Mounted> {
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Mounted(at.to_path_buf()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_small_filesystem_gets_its_directories_and_a_plan_too_big_is_still_refused() {
    let _part = summary::Part::start();
    let a = Arena::new();
    let mounted = Mounted::tmpfs(&a.root(), "256k");
    // Where no filesystem can be mounted, the fault layer's cap on free space stands in.
    let small = if mounted.is_some() { "" } else { "262144" };
    let env: &[(&str, &str)] = if small.is_empty() {
        &[]
    } else {
        &[("SELFHEAL_FAULT_FREE", small)]
    };
    if mounted.is_none() && !cfg!(feature = "fault-injection") {
        eprintln!("skipped: no tmpfs can be mounted and no fault layer is built");
        return;
    }
    let run = |args: &[&str]| {
        let mut cmd = a.cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        a.output(&mut cmd)
    };
    let out = run(&["--json", "heal", "--mode", "real"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(code(&out), 0, "{v}");
    assert!(lines(&v, "failed").is_empty(), "{v}");
    for dir in ["data", "state/heartbeats", "logs/backups/journal"] {
        assert!(a.root().join(dir).is_dir(), "{dir} created");
    }
    // A file too big for what is left: its backup and new content cannot both fit.
    let big = format!(
        "{{\"open_positions\": [], \"pad\": \"{}\"",
        "x".repeat(150 << 10)
    );
    std::fs::write(a.root().join(POSITIONS), big).expect("write");
    let out = run(&["--json", "heal", "--mode", "paper"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(lines(&v, "failed").contains("not enough disk space"), "{v}");
    drop(mounted);
    summary::count("small filesystems", 2);
}
