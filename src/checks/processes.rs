//! Bot instances and orphan processes. A process is a bot instance of this root when it
//! runs as our user, its interpreter is a configured one (the file name of its first
//! argument: `python`, `python3`, `python3.11`, …), its script is the configured one (the
//! file name of the first argument that is not an interpreter option: `run.py`; `-c`, `-m`
//! and `-` run no script), and its working directory lies inside the root (canonical
//! paths). Words elsewhere in a command line never count: `vim python/run.py.md` or
//! `tail -f python_run.py.log` are not bots. Never one: selfheal itself, any of its
//! ancestors, and any descendant of an ancestor that is itself a bot (the `python run.py`
//! that started selfheal as a subprocess, and its workers).
//!
//! At startup, only an *explicit* paper mode (`--mode paper`, or a `TRADING_MODE` that
//! resolves to paper) plans a termination (SIGTERM through a pidfd, SIGKILL after the grace
//! period; journaled as irreversible), and only of a process older than
//! `processes.min_age` (default 1 h). The terminations are planned before every other
//! operation, so they have completed (each process gone) before any state file is written,
//! and a failed one stops the run before any state file is touched. In real mode a live
//! instance is the critical `DUPLICATE_INSTANCE` (and `heal` then writes no state file);
//! otherwise it is reported. `watch` never signals: there the bot is expected, and only a
//! second instance is a duplicate (real mode). Reading `/proc` happens in `procs`; the
//! choice is the pure [`select`].

use super::{Bots, Ctx, Phase, Planned};
use crate::config::Layout;
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::Root;
use crate::mode::Mode;
use crate::plan::{Effect, HealKind, Observed, Op};
use crate::procs::{self, ProcInfo};
use journal_format::ProcessRef;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Longest command line kept in a journal record or a message.
const MAX_CMDLINE: usize = 500;

/// Who is looking, for [`select`].
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// selfheal's own pid.
    pub pid: u32,
    /// selfheal's effective uid.
    pub uid: u32,
    /// The canonical root.
    pub root: &'a Path,
    /// What makes a process a bot.
    pub bot: Matcher<'a>,
}

/// What makes a process a bot: its interpreter and its script (`processes` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Matcher<'a> {
    /// Interpreter names; a version may follow (`python` matches `python3.11`).
    pub interpreters: &'a [String],
    /// The script's file name.
    pub script: &'a str,
}

impl<'a> Matcher<'a> {
    /// The matcher of `layout`'s `processes` section.
    pub fn of(layout: &'a Layout) -> Matcher<'a> {
        Matcher {
            interpreters: &layout.config.processes.interpreters,
            script: &layout.config.processes.script,
        }
    }
}

/// The bot instances running in the root now, parents before their children.
///
/// # Errors
/// The root's canonical path cannot be found.
pub fn scan(root: &Root, layout: &Layout) -> Result<Vec<ProcInfo>> {
    let canon = root.canonical_path()?;
    let viewer = Viewer {
        pid: std::process::id(),
        uid: rustix::process::geteuid().as_raw(),
        root: &canon,
        bot: Matcher::of(layout),
    };
    // Only a bot's owner and working directory are ever looked at (`select`).
    let table = procs::list_where(|p| is_bot(p, &viewer.bot));
    Ok(select(&table, &viewer))
}

/// For `watch`, where one bot instance is expected: the DUPLICATE_INSTANCE finding when more
/// than one runs in the root (workers of one bot count as that bot).
///
/// # Errors
/// The root's canonical path cannot be found.
pub fn second_instance(root: &Root, layout: &Layout) -> Result<Option<Finding>> {
    let found = scan(root, layout)?;
    Ok((tops(&found).len() > 1).then(|| duplicate(&found)))
}

/// Whether `p` runs the bot's script under the bot's interpreter.
pub fn is_bot(p: &ProcInfo, m: &Matcher<'_>) -> bool {
    let Some((argv0, args)) = p.cmdline.split_first() else {
        return false;
    };
    interpreter(file_name(argv0), m.interpreters)
        && script(args).is_some_and(|s| file_name(s) == m.script)
}

fn file_name(arg: &str) -> &str {
    arg.rsplit('/').next().unwrap_or(arg)
}

/// `name` is one of `names`, alone or followed by a version (`3`, `3.11`).
fn interpreter(name: &str, names: &[String]) -> bool {
    let version = |v: &str| {
        !v.is_empty()
            && v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    names.iter().any(|n| {
        name.strip_prefix(n.as_str())
            .is_some_and(|rest| rest.is_empty() || version(rest))
    })
}

/// The script a CPython command line runs: the first argument that is not an option, as
/// CPython parses its options. `None` when it runs none (`-c`, `-m`, `-` for standard
/// input, help or version) or the options are not CPython's.
fn script(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return it.next().map(String::as_str).filter(|s| *s != "-");
        }
        if a == "-" {
            return None;
        }
        if let Some(long) = a.strip_prefix("--") {
            match long {
                "check-hash-based-pycs" => {
                    it.next();
                }
                l if l.starts_with("check-hash-based-pycs=") => {}
                _ => return None,
            }
            continue;
        }
        let Some(flags) = a.strip_prefix('-') else {
            return Some(a);
        };
        for (i, ch) in flags.char_indices() {
            match ch {
                'W' | 'X' => {
                    if flags.len() == i + 1 {
                        it.next();
                    }
                    break;
                }
                'b' | 'B' | 'd' | 'E' | 'i' | 'I' | 'O' | 'P' | 'q' | 'R' | 's' | 'S' | 'u'
                | 'v' | 'x' => {}
                _ => return None,
            }
        }
    }
    None
}

/// The bot instances of the root in `table`, seen by `viewer`, parents first.
pub fn select(table: &[ProcInfo], viewer: &Viewer<'_>) -> Vec<ProcInfo> {
    let by_pid: BTreeMap<u32, &ProcInfo> = table.iter().map(|p| (p.pid, p)).collect();
    let ancestors = chain(&by_pid, viewer.pid);
    let bot_ancestors: BTreeSet<u32> = ancestors
        .iter()
        .copied()
        .filter(|a| *a != viewer.pid)
        .filter(|a| by_pid.get(a).is_some_and(|p| is_bot(p, &viewer.bot)))
        .collect();
    let mut found: Vec<(usize, &ProcInfo)> = table
        .iter()
        .filter(|p| !ancestors.contains(&p.pid))
        .filter(|p| p.uid == Some(viewer.uid) && is_bot(p, &viewer.bot))
        .filter(|p| p.cwd.as_deref().is_some_and(|c| c.starts_with(viewer.root)))
        .map(|p| (chain(&by_pid, p.pid), p))
        .filter(|(up, _)| !up.iter().any(|a| bot_ancestors.contains(a)))
        .map(|(up, p)| (up.len(), p))
        .collect();
    found.sort_by_key(|(depth, p)| (*depth, p.pid));
    found.into_iter().map(|(_, p)| p.clone()).collect()
}

/// `pid` and its ancestors, nearest first, as far as `table` knows them.
fn chain(by_pid: &BTreeMap<u32, &ProcInfo>, pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut cur = pid;
    while let Some(p) = by_pid.get(&cur) {
        if p.ppid == 0 || out.contains(&p.ppid) || out.len() > 4096 {
            break;
        }
        out.push(p.ppid);
        cur = p.ppid;
    }
    out
}

/// The instances in `found` that are not children of another one (one per bot).
fn tops(found: &[ProcInfo]) -> Vec<&ProcInfo> {
    let pids: BTreeSet<u32> = found.iter().map(|p| p.pid).collect();
    found.iter().filter(|p| !pids.contains(&p.ppid)).collect()
}

/// Plans what to do about bot instances and records whether one runs (`Planned::bots`).
///
/// # Errors
/// The root's canonical path cannot be found.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let found = scan(ctx.root, ctx.layout)?;
    if found.is_empty() {
        return Ok(());
    }
    match ctx.phase {
        Phase::Watch => watch(ctx, p, &found),
        Phase::Startup => startup(ctx, p, &found),
    }
    Ok(())
}

fn startup(ctx: &Ctx<'_>, p: &mut Planned, found: &[ProcInfo]) {
    p.bots = Bots::Running;
    if ctx.mode.mode == Mode::Real {
        p.findings.push(duplicate(found));
        return;
    }
    if !ctx.mode.may_signal() {
        let why = format!(
            "paper mode is not explicit (only an explicit paper mode terminates: `{}`)",
            ctx.hints.command(&["heal", "--mode", "paper"])
        );
        p.findings.extend(found.iter().map(|b| kept(b, &why)));
        return;
    }
    let min_age = ctx.layout.process_min_age;
    let (old, young): (Vec<&ProcInfo>, Vec<&ProcInfo>) = found
        .iter()
        .partition(|b| procs::age(b.start_ticks).is_some_and(|a| a >= min_age));
    let why = format!(
        "it is younger than processes.min_age ({} s)",
        min_age.as_secs()
    );
    p.findings.extend(young.iter().map(|b| kept(b, &why)));
    for b in &old {
        p.push(terminate(ctx.layout, b));
    }
    if young.is_empty() {
        p.bots = Bots::Terminating;
    }
}

fn watch(ctx: &Ctx<'_>, p: &mut Planned, found: &[ProcInfo]) {
    p.bots = Bots::Running;
    if ctx.mode.mode == Mode::Real && tops(found).len() > 1 {
        p.findings.push(duplicate(found));
    }
}

fn short_cmd(b: &ProcInfo) -> String {
    let mut cmd = b.command();
    if cmd.len() > MAX_CMDLINE {
        let mut cut = MAX_CMDLINE;
        while !cmd.is_char_boundary(cut) {
            cut -= 1;
        }
        cmd.truncate(cut);
        cmd.push_str("...");
    }
    cmd
}

fn describe(b: &ProcInfo) -> String {
    format!("{} ({})", b.pid, short_cmd(b))
}

fn duplicate(found: &[ProcInfo]) -> Finding {
    let list: Vec<String> = found.iter().map(describe).collect();
    let cmds: BTreeSet<String> = found.iter().map(short_cmd).collect();
    Finding::new(
        code::DUPLICATE_INSTANCE,
        Level::Critical,
        None,
        format!(
            "another bot instance is running in this root: {}; no state file is written while it runs",
            list.join(", ")
        ),
        cmds.into_iter().collect::<Vec<_>>().join(" | "),
    )
    .with_details(serde_json::json!({
        "processes": found.iter().map(|b| serde_json::json!({
            "pid": b.pid,
            "cmdline": short_cmd(b),
            "cwd": b.cwd.as_ref().map(|c| c.display().to_string()),
        })).collect::<Vec<_>>(),
    }))
}

fn kept(b: &ProcInfo, why: &str) -> Finding {
    Finding::new(
        code::BOT_INSTANCE,
        Level::High,
        None,
        format!(
            "bot process {} runs in this root; not terminated: {why}",
            describe(b)
        ),
        short_cmd(b),
    )
    .with_details(serde_json::json!({"pid": b.pid, "cmdline": short_cmd(b)}))
}

fn terminate(layout: &Layout, b: &ProcInfo) -> Op {
    let age = procs::age(b.start_ticks).map_or(0, |a| a.as_secs());
    let cwd = b
        .cwd
        .as_ref()
        .map_or_else(String::new, |c| c.display().to_string());
    Op {
        heal: HealKind::OrphanProcess,
        path: None,
        reason: format!("bot process in the root (cwd {cwd}), running for {age} s"),
        message: format!("Terminated orphan process {}", describe(b)),
        action: Effect::Signal {
            process: ProcessRef {
                pid: b.pid,
                start_ticks: b.start_ticks,
                cmdline: short_cmd(b),
            },
            grace: layout.process_grace,
        },
        before: Observed::absent(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn proc(pid: u32, ppid: u32, cmd: &str, cwd: &str) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            uid: Some(1000),
            start_ticks: u64::from(pid),
            cmdline: cmd.split(' ').map(str::to_string).collect(),
            cwd: Some(PathBuf::from(cwd)),
        }
    }

    fn python() -> Vec<String> {
        vec!["python".to_string()]
    }

    fn pids(table: &[ProcInfo], me: u32) -> Vec<u32> {
        let interpreters = python();
        let viewer = Viewer {
            pid: me,
            uid: 1000,
            root: Path::new("/srv/bot"),
            bot: Matcher {
                interpreters: &interpreters,
                script: "run.py",
            },
        };
        select(table, &viewer).iter().map(|p| p.pid).collect()
    }

    #[test]
    fn interpreter_and_script_table() {
        let interpreters = python();
        let m = Matcher {
            interpreters: &interpreters,
            script: "run.py",
        };
        let argv = |a: &[&str]| ProcInfo {
            pid: 1,
            ppid: 0,
            uid: Some(1000),
            start_ticks: 1,
            cmdline: a.iter().map(|s| s.to_string()).collect(),
            cwd: None,
        };
        let bots: &[&[&str]] = &[
            &["python3", "run.py"],
            &["python", "run.py"],
            &["/usr/bin/python3.11", "/srv/bot/run.py", "--worker"],
            &["/opt/venv/bin/python", "-u", "run.py"],
            &["python3", "-uB", "-W", "ignore", "-Xdev", "run.py"],
            &[
                "python3",
                "-Wignore",
                "--check-hash-based-pycs",
                "never",
                "run.py",
            ],
            &["python3", "--", "run.py"],
            &["python2.7", "./run.py"],
        ];
        let decoys: &[&[&str]] = &[
            &["vim", "/srv/bot/python/run.py.md"],
            &["less", "run.py"],
            &["tail", "-f", "python_run.py.log"],
            &["python3", "-c", "import time", "/x/python/run.py.md"],
            &["python3", "-c", "run.py"],
            &["python3", "-m", "run.py"],
            &["python3", "-", "run.py"],
            &["python3", "run.py.md"],
            &["python3", "python_run.py"],
            &["python3", "dashboard.py", "run.py"],
            &["python3", "-W"],
            &["python3", "--version", "run.py"],
            &["python3-config", "run.py"],
            &["python3.", "run.py"],
            &["pythonx", "run.py"],
            &["mypython3", "run.py"],
            &["sh", "-c", "python3 run.py"],
            &["python3", "", "run.py"],
            &[],
        ];
        for a in bots {
            assert!(is_bot(&argv(a), &m), "{a:?} is a bot");
        }
        for a in decoys {
            assert!(!is_bot(&argv(a), &m), "{a:?} is not a bot");
        }
    }

    #[test]
    fn selection_table() {
        let mut other_user = proc(40, 1, "python3 run.py", "/srv/bot");
        other_user.uid = Some(0);
        let table = vec![
            proc(1, 0, "init", "/"),
            proc(10, 1, "python3 run.py", "/srv/bot"),
            proc(11, 10, "python3 run.py --worker", "/srv/bot/data"),
            proc(20, 1, "python3 run.py", "/srv/other"),
            proc(21, 1, "python3 run.py", "/srv/bot-B"),
            proc(30, 1, "python3 dashboard.py", "/srv/bot"),
            other_user,
            // selfheal started by a bot: the bot, its workers and selfheal are excluded.
            proc(50, 1, "python run.py", "/srv/bot"),
            proc(51, 50, "python run.py --worker", "/srv/bot"),
            proc(52, 50, "selfheal heal", "/srv/bot"),
        ];
        assert_eq!(pids(&table, 52), vec![10, 11]);
        // Seen from a selfheal started by the operator, both bots are instances.
        assert_eq!(pids(&table, 999), vec![10, 50, 11, 51]);
    }

    #[test]
    fn tops_group_workers_with_their_bot() {
        let found = vec![
            proc(10, 1, "python3 run.py", "/srv/bot"),
            proc(11, 10, "python3 run.py", "/srv/bot"),
        ];
        assert_eq!(tops(&found).len(), 1);
    }
}
