//! Power loss beyond kill -9: a heal, a rollback and a recovery are cut at every fault
//! point (`SELFHEAL_FAULT=N:powercut`), and then everything the power cut could have lost
//! is dropped from the disk, as the power-cut log of the fault layer describes it (see
//! `src/fault.rs` for the model and its assumptions): changes to a directory's entries
//! not followed by an fsync of that directory are undone, data written to a file and not
//! followed by an fsync of that file is cut off, attributes set and not fsynced are put
//! back — newest first. Recovery must then still land wholly before or wholly after, the
//! journal must verify, and the next run must be clean. The same for the journal's own
//! write paths: a quarantine (the damaged journal wholly in place or wholly moved aside),
//! and a heal that writes no transaction but the run record and the index. A heal and a
//! rollback of files carrying extended attributes and a POSIX ACL are cut the same way,
//! their attributes compared as part of each state (an attribute set and not fsynced is
//! put back too). Together with the kill -9 matrix
//! (`engine_crash`), which keeps every unsynced effect, this covers both extremes of what
//! a crash can leave; the subsets in between (some unsynced effects kept, others lost) are
//! not enumerated.

#![cfg(feature = "fault-injection")]

use crate::support::arena::{
    damaged_arena, heal_template, lost_bytes, rollback_unless_at, side, summary, temps_left, trace,
    Arena, Side,
};
use crate::support::{
    code, diff, exact_tree, stderr, tag_with_xattrs, with_xattrs, without_mtimes, Snapshot,
};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One line of the power-cut log.
struct Effect(Value);

impl Effect {
    fn kind(&self) -> &str {
        self.0["e"].as_str().unwrap_or("")
    }

    fn text(&self, key: &str) -> &str {
        self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {}", self.0))
    }

    fn num(&self, key: &str) -> u64 {
        self.0[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {}", self.0))
    }

    /// Whether a later line makes this effect durable.
    fn durable(&self, later: &[Effect]) -> bool {
        let syncs = later.iter().filter(|l| l.kind() == "synced");
        match self.kind() {
            "created" | "renamed" | "removed" => {
                let dir = self.text("dir");
                syncs.into_iter().any(|s| s.0["dir"].as_str() == Some(dir))
            }
            "exchanged" => {
                let synced = |d: &str| {
                    later
                        .iter()
                        .any(|s| s.kind() == "synced" && s.0["dir"].as_str() == Some(d))
                };
                synced(self.text("dir")) && synced(self.text("to_dir"))
            }
            "wrote" | "truncated" => syncs.into_iter().any(|s| s.num("ino") == self.num("ino")),
            "attrs" | "xattr" => syncs
                .into_iter()
                .any(|s| s.num("ino") == self.num("ino") && s.0["data_only"] == false),
            _ => true,
        }
    }
}

/// The power-cut log of one run and the root it ran on.
struct Cut<'a> {
    root: PathBuf,
    stash: PathBuf,
    effects: Vec<Effect>,
    _arena: &'a Arena,
}

impl<'a> Cut<'a> {
    /// Reads the log of a run cut at point `at` (`None`: cut once the run had finished).
    fn read(arena: &'a Arena, log: &Path, at: Option<usize>) -> Cut<'a> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a power-cut log line"))
            .collect();
        assert_eq!(
            lines.last().and_then(|l| l["cut"].as_u64()),
            at.map(|n| n as u64),
            "where the run ended"
        );
        let mut stash = log.as_os_str().to_owned();
        stash.push(".stash");
        Cut {
            root: arena.root(),
            stash: PathBuf::from(stash),
            effects: lines
                .into_iter()
                .filter(|l| l.get("e").is_some())
                .map(Effect)
                .collect(),
            _arena: arena,
        }
    }

    /// Drops every effect the cut could have lost, newest first; returns how many.
    fn drop_unsynced(&self) -> usize {
        let mut dropped = 0;
        for (i, e) in self.effects.iter().enumerate().rev() {
            if !e.durable(&self.effects[i + 1..]) {
                self.undo(e);
                dropped += 1;
            }
        }
        dropped
    }

    fn undo(&self, e: &Effect) {
        match e.kind() {
            "created" => self.uncreate(e),
            "renamed" => self.unrename(e),
            "exchanged" => {
                let a = self.entry(e, "name");
                let b = self.root.join(e.text("to_dir")).join(e.text("to_name"));
                let cwd = rustix::fs::CWD;
                rustix::fs::renameat_with(cwd, &a, cwd, &b, rustix::fs::RenameFlags::EXCHANGE)
                    .expect("undo an exchange");
            }
            "removed" => self.unremove(e),
            "wrote" => {
                if let Some(p) = self.find(e.num("ino")) {
                    let f = std::fs::File::options().write(true).open(&p).expect("open");
                    f.set_len(e.num("size")).expect("cut unsynced data");
                }
            }
            "truncated" => {
                if let Some(p) = self.find(e.num("ino")) {
                    let old = std::fs::read(self.stash.join(e.text("stash"))).expect("stash");
                    std::fs::write(p, old).expect("put back truncated bytes");
                }
            }
            "attrs" => self.unattr(e),
            "xattr" => self.unxattr(e),
            "synced" => {}
            other => panic!("unknown effect {other}"),
        }
    }

    fn entry(&self, e: &Effect, key: &str) -> PathBuf {
        self.root.join(e.text("dir")).join(e.text(key))
    }

    fn uncreate(&self, e: &Effect) {
        let p = self.entry(e, "name");
        let gone = if e.0["is_dir"] == true {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        gone.unwrap_or_else(|err| panic!("undo the creation of {}: {err}", p.display()));
    }

    fn unrename(&self, e: &Effect) {
        let (from, to) = (self.entry(e, "from"), self.entry(e, "to"));
        std::fs::rename(&to, &from).expect("undo a rename");
        if let Some(id) = e.0["stash"].as_str() {
            std::fs::rename(self.stash.join(id), &to).expect("bring back the replaced file");
        }
    }

    fn unremove(&self, e: &Effect) {
        let p = self.entry(e, "name");
        if e.0["is_dir"] == true {
            std::fs::create_dir(&p).expect("undo a rmdir");
            set_mode(&p, e.num("mode"));
        } else {
            let id = e.text("stash");
            std::fs::rename(self.stash.join(id), &p).expect("undo an unlink");
        }
    }

    fn unattr(&self, e: &Effect) {
        let Some(p) = self.find(e.num("ino")) else {
            return;
        };
        let uid = u32::try_from(e.num("uid")).expect("uid");
        let gid = u32::try_from(e.num("gid")).expect("gid");
        std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).expect("chown back");
        set_mode(&p, e.num("mode"));
        if p.is_file() {
            let secs = std::time::Duration::new(
                e.num("mtime_sec"),
                u32::try_from(e.num("mtime_nsec")).expect("nsec"),
            );
            let f = std::fs::File::options().write(true).open(&p).expect("open");
            f.set_modified(std::time::UNIX_EPOCH + secs)
                .expect("mtime back");
        }
    }

    fn unxattr(&self, e: &Effect) {
        let Some(p) = self.find(e.num("ino")) else {
            return;
        };
        let name = e.text("name");
        match e.0["old"].as_str() {
            Some(hex) => {
                let old: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect();
                crate::support::set_xattr(&p, name, &old).expect("xattr back");
            }
            None => {
                let _ = rustix::fs::lremovexattr(&p, name);
            }
        }
    }

    /// The path under the root that names inode `ino`, if any still does.
    fn find(&self, ino: u64) -> Option<PathBuf> {
        exact_tree(&self.root)
            .into_keys()
            .map(|k| self.root.join(k))
            .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.ino() == ino))
    }
}

fn set_mode(p: &Path, mode: u64) {
    use std::os::unix::fs::PermissionsExt;
    let mode = u32::try_from(mode).expect("mode");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod back");
}

/// One command's power-cut matrix.
struct Matrix<'a> {
    template: &'a Arena,
    args: &'a [&'a str],
    pre: Snapshot,
    post: Snapshot,
    post_exact: bool,
    /// The next run, from either side, and the state it must reach.
    finish: &'a dyn Fn(&Arena),
    target: Snapshot,
    /// The bytes that must never be lost.
    originals: Snapshot,
    /// Whether states are compared with their files' extended attributes.
    xattrs: bool,
}

/// A state as the matrix compares it.
fn state(a: &Arena, xattrs: bool) -> Snapshot {
    if xattrs {
        with_xattrs(&a.root(), a.snapshot())
    } else {
        a.snapshot()
    }
}

#[derive(Default)]
struct Tally {
    points: usize,
    dropped: usize,
    before: usize,
    after: usize,
}

/// Cuts the command at each of its points, and once more after it finished.
fn run_matrix(m: &Matrix<'_>) -> Tally {
    let points = trace(&Arena::copy_of(m.template), m.args);
    assert!(points.len() > 20, "too few fault points: {points:?}");
    let mut cuts: Vec<(Option<usize>, String)> = points
        .iter()
        .map(|p| (Some(p.n), format!("{} {} {}", p.n, p.kind, p.path)))
        .collect();
    cuts.push((None, "the end of the run".into()));
    let mut t = Tally::default();
    for (at, what) in &cuts {
        let (dropped, s) = one_cut(m, *at, what);
        t.points += 1;
        t.dropped += dropped;
        match s {
            Side::Before => t.before += 1,
            Side::After => t.after += 1,
        }
    }
    summary::add(|s| {
        s.crash_points += t.points as u64;
        s.dropped_effects += t.dropped as u64;
    });
    t
}

/// Runs the command on a copy, cut at `at`, and drops what the cut lost; returns the copy
/// and how many effects were dropped.
fn cut_copy(m: &Matrix<'_>, at: Option<usize>, what: &str) -> (Arena, usize) {
    cut_in(Arena::copy_of(m.template), m.args, at, what)
}

fn one_cut(m: &Matrix<'_>, at: Option<usize>, what: &str) -> (usize, Side) {
    let (a, dropped) = cut_copy(m, at, what);
    let rec = a.run(&["recover"]);
    assert_eq!(code(&rec), 0, "cut at {what}: recover: {}", stderr(&rec));
    let got = side(&state(&a, m.xattrs), &m.pre, &m.post, m.post_exact)
        .unwrap_or_else(|e| panic!("cut at {what}, {dropped} effects dropped: {e}"));
    let temps = temps_left(&a.root());
    assert!(
        temps.is_empty(),
        "cut at {what}: temp files left: {temps:?}"
    );
    let v = a.run(&["journal", "verify"]);
    assert_eq!(code(&v), 0, "cut at {what}: journal verify: {}", stderr(&v));
    (m.finish)(&a);
    let now = state(&a, m.xattrs);
    assert!(
        without_mtimes(&now) == without_mtimes(&m.target),
        "cut at {what}: the next run did not reach the post-state:\n{}",
        diff(&m.target, &now)
    );
    assert_eq!(lost_bytes(&m.originals, &a.root()), 0, "cut at {what}");
    (dropped, got)
}

#[test]
fn power_cut_at_every_point_of_a_heal_recovers_wholly_before_or_after() {
    let _summary = summary::Part::start();
    let (template, cfg) = damaged_arena();
    let heal = ["--config", cfg.as_str(), "heal"];
    let reference = Arena::copy_of(&template);
    assert_eq!(reference.json(&heal).0, 0);
    let finish = |a: &Arena| {
        let (rc, v) = a.json(&heal);
        assert_eq!(rc, 0, "the next heal: {v}");
    };
    let pre = template.snapshot();
    let post = reference.snapshot();
    let m = Matrix {
        template: &template,
        args: &heal,
        pre: pre.clone(),
        post: post.clone(),
        post_exact: false,
        finish: &finish,
        target: post,
        originals: pre,
        xattrs: false,
    };
    let t = run_matrix(&m);
    assert!(t.before > 0 && t.after > 0, "both sides reached");
    println!(
        "power cut (heal): {} points, {} unsynced effects dropped, {} before, {} after",
        t.points, t.dropped, t.before, t.after
    );
}

#[test]
fn power_cut_at_every_point_of_a_rollback_recovers_wholly_before_or_after() {
    let _summary = summary::Part::start();
    let (template, cfg) = damaged_arena();
    let (pre_heal, id) = heal_template(&template, &cfg);
    let rollback = ["--config", cfg.as_str(), "rollback", id.as_str()];
    let finish = |a: &Arena| rollback_unless_at(a, &rollback, &pre_heal);
    let healed = template.snapshot();
    let m = Matrix {
        template: &template,
        args: &rollback,
        pre: healed.clone(),
        post: pre_heal.clone(),
        post_exact: true,
        finish: &finish,
        target: pre_heal.clone(),
        originals: healed,
        xattrs: false,
    };
    let t = run_matrix(&m);
    assert!(t.before > 0 && t.after > 0, "both sides reached");
    println!(
        "power cut (rollback): {} points, {} unsynced effects dropped, {} before, {} after",
        t.points, t.dropped, t.before, t.after
    );
}

#[test]
fn power_cut_during_recovery_still_recovers_wholly_before() {
    let _summary = summary::Part::start();
    let (template, cfg) = damaged_arena();
    let heal = ["--config", cfg.as_str(), "heal"];
    let pre = template.snapshot();
    // Interrupted with every operation applied and none committed: the commit append.
    let points = trace(&Arena::copy_of(&template), &heal);
    let commit = points
        .iter()
        .rev()
        .find(|p| p.kind == "Append")
        .expect("the commit append");
    let crashed = Arena::copy_of(&template);
    let out = crashed.output(
        crashed
            .cmd(&heal)
            .env("SELFHEAL_FAULT", format!("{}:crash", commit.n)),
    );
    assert_eq!(code(&out), -6, "{}", stderr(&out));
    let reference = Arena::copy_of(&template);
    assert_eq!(reference.json(&heal).0, 0);
    let finish = |a: &Arena| {
        let (rc, v) = a.json(&heal);
        assert_eq!(rc, 0, "the next heal: {v}");
    };
    let m = Matrix {
        template: &crashed,
        args: &["recover"],
        pre: pre.clone(),
        post: pre.clone(),
        post_exact: true,
        finish: &finish,
        target: reference.snapshot(),
        originals: pre,
        xattrs: false,
    };
    let t = run_matrix(&m);
    assert_eq!(t.after, 0, "recovery never rolls forward");
    println!(
        "power cut (recovery): {} points, {} unsynced effects dropped",
        t.points, t.dropped
    );
}

#[test]
fn a_created_directory_keeps_its_mode_through_a_power_cut() {
    let _summary = summary::Part::start();
    use std::os::unix::fs::PermissionsExt;
    let (template, cfg) = damaged_arena();
    let heal = ["--config", cfg.as_str(), "heal"];
    let points = trace(&Arena::copy_of(&template), &heal);
    // Cut right after the parent fsync that makes the new directory `config` durable.
    let renamed = points
        .iter()
        .position(|p| p.kind == "Rename" && p.path == "config")
        .expect("config is created");
    let synced = points[renamed + 1..]
        .iter()
        .find(|p| p.kind == "FsyncDir")
        .expect("its parent is fsynced");
    let pre = template.snapshot();
    let m = Matrix {
        template: &template,
        args: &heal,
        pre: pre.clone(),
        post: pre.clone(),
        post_exact: true,
        finish: &|_: &Arena| {},
        target: pre.clone(),
        originals: pre,
        xattrs: false,
    };
    let (a, _) = cut_copy(&m, Some(synced.n + 1), "after config is durable");
    let mode = std::fs::metadata(a.root().join("config"))
        .expect("config survives the cut")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755, "the directory's mode survives the cut with it");
    let rec = a.run(&["recover"]);
    assert_eq!(code(&rec), 0, "{}", stderr(&rec));
    assert_eq!(side(&a.snapshot(), &m.pre, &m.post, true), Ok(Side::Before));
}

/// The damaged arena with its two replaced files tagged with a `user.*` attribute and an
/// ACL; `None` where the arena's filesystem keeps neither.
fn tagged_arena() -> Option<(Arena, String)> {
    let (template, cfg) = damaged_arena();
    for rel in ["logs/positions_futures.json", "logs/portfolio_futures.json"] {
        if !tag_with_xattrs(&template.root(), rel) {
            eprintln!("skipped: the arena's filesystem keeps no user xattrs or ACLs");
            return None;
        }
    }
    Some((template, cfg))
}

#[test]
fn power_cut_at_every_point_of_a_heal_keeping_xattrs_recovers_wholly_before_or_after() {
    let _summary = summary::Part::start();
    let Some((template, cfg)) = tagged_arena() else {
        return;
    };
    let heal = ["--config", cfg.as_str(), "heal"];
    let reference = Arena::copy_of(&template);
    assert_eq!(reference.json(&heal).0, 0);
    let finish = |a: &Arena| {
        let (rc, v) = a.json(&heal);
        assert_eq!(rc, 0, "the next heal: {v}");
    };
    let pre = state(&template, true);
    let post = state(&reference, true);
    let m = Matrix {
        template: &template,
        args: &heal,
        pre: pre.clone(),
        post: post.clone(),
        post_exact: false,
        finish: &finish,
        target: post,
        originals: template.snapshot(),
        xattrs: true,
    };
    let t = run_matrix(&m);
    assert!(t.before > 0 && t.after > 0, "both sides reached");
    println!(
        "power cut (heal keeping xattrs): {} points, {} unsynced effects dropped, {} before, {} after",
        t.points, t.dropped, t.before, t.after
    );
}

#[test]
fn power_cut_at_every_point_of_a_rollback_restoring_xattrs_recovers_wholly_before_or_after() {
    let _summary = summary::Part::start();
    let Some((template, cfg)) = tagged_arena() else {
        return;
    };
    let pre_heal_state = state(&template, true);
    let (pre_heal, id) = heal_template(&template, &cfg);
    let rollback = ["--config", cfg.as_str(), "rollback", id.as_str()];
    let finish = |a: &Arena| rollback_unless_at(a, &rollback, &pre_heal);
    let healed = state(&template, true);
    let m = Matrix {
        template: &template,
        args: &rollback,
        pre: healed,
        post: pre_heal_state.clone(),
        post_exact: true,
        finish: &finish,
        target: pre_heal_state,
        originals: template.snapshot(),
        xattrs: true,
    };
    let t = run_matrix(&m);
    assert!(t.before > 0 && t.after > 0, "both sides reached");
    println!(
        "power cut (rollback restoring xattrs): {} points, {} unsynced effects dropped, {} before, {} after",
        t.points, t.dropped, t.before, t.after
    );
}

/// A default root with seven transactions, the third damaged in place.
fn damaged_journal() -> Arena {
    let a = Arena::new();
    assert_eq!(code(&a.run(&["heal"])), 0);
    for _ in 0..6 {
        std::fs::write(a.root().join("logs/portfolio_futures.json"), "").expect("empty");
        assert_eq!(code(&a.run(&["heal"])), 0);
    }
    let p = a.root().join("logs/backups/journal/txn-0000000003.jsonl");
    let mut bytes = std::fs::read(&p).expect("read");
    let second = bytes.iter().position(|&b| b == b'\n').expect("line") + 20;
    bytes[second] ^= 1;
    std::fs::write(&p, bytes).expect("damage");
    a
}

fn journal_names(a: &Arena) -> Vec<String> {
    crate::support::journal::journal_names(&a.root())
}

/// Runs `args` on a copy of `template` with the power-cut log, cut at `at` (or run to its
/// end), and drops every effect the cut could have lost.
fn cut_run(template: &Arena, args: &[&str], at: Option<usize>) -> (Arena, usize) {
    cut_in(Arena::copy_of(template), args, at, &format!("{at:?}"))
}

fn cut_in(a: Arena, args: &[&str], at: Option<usize>, what: &str) -> (Arena, usize) {
    let log = a.aux("powercut.jsonl");
    let mut cmd = a.cmd(args);
    cmd.env("SELFHEAL_POWERCUT_LOG", &log);
    if let Some(n) = at {
        cmd.env("SELFHEAL_FAULT", format!("{n}:powercut"));
    }
    let out = a.output(&mut cmd);
    let want = if at.is_some() { -6 } else { 0 };
    assert_eq!(code(&out), want, "cut at {what}: {}", stderr(&out));
    let dropped = Cut::read(&a, &log, at).drop_unsynced();
    (a, dropped)
}

#[test]
fn power_cut_at_every_point_of_a_quarantine_is_wholly_before_or_after() {
    let _summary = summary::Part::start();
    let template = damaged_journal();
    let args = ["journal", "quarantine"];
    let points = trace(&Arena::copy_of(&template), &args);
    let mut cuts: Vec<Option<usize>> = points.iter().map(|p| Some(p.n)).collect();
    cuts.push(None);
    let (mut before, mut after, mut dropped) = (0, 0, 0);
    for at in &cuts {
        let (a, d) = cut_run(&template, &args, *at);
        dropped += d;
        if journal_names(&a).len() == 7 {
            before += 1;
            assert_eq!(
                code(&a.run(&["journal", "verify"])),
                4,
                "cut at {at:?}: untouched"
            );
            assert_eq!(code(&a.run(&args)), 0, "cut at {at:?}: quarantined again");
        } else {
            after += 1;
            assert_eq!(
                journal_names(&a),
                vec!["txn-0000000008.jsonl"],
                "cut at {at:?}"
            );
        }
        assert_eq!(code(&a.run(&["journal", "verify"])), 0, "cut at {at:?}");
        let moved: Vec<_> = std::fs::read_dir(a.root().join("logs/backups/quarantine"))
            .expect("quarantine")
            .flatten()
            .collect();
        assert_eq!(moved.len(), 1, "cut at {at:?}: {moved:?}");
        assert_eq!(
            std::fs::read_dir(moved[0].path()).expect("moved").count(),
            7
        );
        assert_eq!(
            code(&a.run(&["heal", "--mode", "real"])),
            0,
            "cut at {at:?}"
        );
    }
    assert!(before > 0 && after > 0, "{before} / {after}");
    summary::add(|s| {
        s.crash_points += cuts.len() as u64;
        s.dropped_effects += dropped as u64;
    });
    println!("power cut (quarantine): {} points, {dropped} unsynced effects dropped, {before} before, {after} after", cuts.len());
}

fn runs(a: &Arena) -> u64 {
    let (rc, v) = a.json(&["stats"]);
    assert_eq!(rc, 0, "{v}");
    v["runs"].as_u64().expect("runs")
}

#[test]
fn power_cut_at_every_point_of_a_heal_that_writes_no_transaction() {
    let _summary = summary::Part::start();
    let template = Arena::new();
    for _ in 0..3 {
        assert_eq!(code(&template.run(&["heal"])), 0);
    }
    let n = runs(&template);
    let args = ["heal"];
    // The index falls due once the journal directory's last change (here: its copy) is
    // settled: every copy is made first, then one wait.
    let settle = || std::thread::sleep(std::time::Duration::from_millis(2_100));
    let traced = Arena::copy_of(&template);
    settle();
    let points = trace(&traced, &args);
    assert!(
        points.iter().any(|p| p.path.contains("index.jsonl")),
        "{points:?}"
    );
    let mut cuts: Vec<Option<usize>> = points.iter().map(|p| Some(p.n)).collect();
    cuts.push(None);
    let copies: Vec<Arena> = cuts.iter().map(|_| Arena::copy_of(&template)).collect();
    settle();
    let mut dropped = 0;
    for (at, copy) in cuts.iter().zip(copies) {
        let (a, d) = cut_in(copy, &args, *at, &format!("{at:?}"));
        dropped += d;
        let got = runs(&a);
        assert!(
            got == n || got == n + 1,
            "cut at {at:?}: {got} runs, {n} before"
        );
        assert_eq!(code(&a.run(&["journal", "verify"])), 0, "cut at {at:?}");
        assert!(temps_left(&a.root()).is_empty(), "cut at {at:?}");
        let (rc, v) = a.json(&["heal"]);
        assert_eq!(rc, 0, "cut at {at:?}: {v}");
        assert_eq!(runs(&a), got + 1, "cut at {at:?}: the next run counts");
    }
    summary::add(|s| {
        s.crash_points += cuts.len() as u64;
        s.dropped_effects += dropped as u64;
    });
    println!(
        "power cut (run record and index): {} points, {dropped} unsynced effects dropped",
        cuts.len()
    );
}
