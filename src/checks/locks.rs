//! Stale lock files: files ending in `locks.suffix` directly inside each `locks.dirs`
//! directory. One is stale when its mtime is older than `locks.stale_after`, no process
//! holds its flock (a non-blocking exclusive flock succeeds) and no PID written in it is
//! alive. A stale lock is removed only at startup with no bot instance in the root, by
//! [`Action::RemoveLock`] (see `fsx::lockfile` for why that is safe for flock users).
//! A held lock, or one naming a live PID, is never removed: it is reported, and so is a
//! stale lock kept because a bot runs or because this is `watch`.

use super::{listable_dir, scan, unchecked, Bots, Ctx, Phase, Planned};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Kind, TryLock};
use crate::paths::RelPath;
use crate::plan::{observe, Action, Op};
use crate::procs;

/// What holds a stale lock file, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// Nothing: it may be removed.
    Nobody,
    /// A process holds its flock.
    Flock,
    /// It names this live PID.
    LivePid(u32),
}

/// Plans the removal (or the report) of every stale lock file.
///
/// # Errors
/// I/O errors while listing, reading or probing.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    for dir in &ctx.layout.lock_dirs {
        if !listable_dir(ctx.root, dir)? {
            continue;
        }
        let suffix = ctx.layout.config.locks.suffix.as_str();
        for (rel, kind) in scan(ctx.root, dir, suffix, "lock file", p)? {
            match kind {
                Kind::File => plan_lock(ctx, p, &rel)?,
                other => unchecked(p, rel.as_str(), &not_a_file(&rel, other)),
            }
        }
    }
    Ok(())
}

fn not_a_file(rel: &RelPath, kind: Kind) -> String {
    let is = match kind {
        Kind::Dir => "a directory",
        Kind::Symlink => "a symlink (not followed)",
        _ => "a FIFO, socket or device",
    };
    format!("lock file {rel} is {is}, not a regular file")
}

fn plan_lock(ctx: &Ctx<'_>, p: &mut Planned, rel: &RelPath) -> Result<()> {
    let before = observe(ctx.root, rel, ctx.layout.max_file_size)?;
    let (Some(stat), Some(bytes)) = (before.stat, before.bytes.clone()) else {
        return Ok(());
    };
    let age = ctx.now.saturating_sub(stat.mtime_sec);
    let stale = ctx.layout.lock_stale.as_secs();
    if age <= i64::try_from(stale).unwrap_or(i64::MAX) {
        return Ok(());
    }
    let holder = holder(ctx, rel, &bytes)?;
    let removable = ctx.phase == Phase::Startup && p.bots == Bots::None;
    match holder {
        Holder::Nobody if removable => {
            p.push(Op {
                heal: "stale_lock",
                message: format!("Removed stale lock: {rel} (age {age} s)"),
                reason: format!(
                    "lock file is {age} s old (stale after {stale} s), not held, names no live process"
                ),
                path: Some(rel.clone()),
                action: Action::RemoveLock,
                before,
            });
        }
        Holder::Nobody => p.findings.push(kept_unheld(ctx, rel, age)),
        Holder::Flock => p.findings.push(report(
            rel,
            age,
            "is held by a running process (flock or POSIX lock); kept",
            "held",
        )),
        Holder::LivePid(pid) => p.findings.push(report(
            rel,
            age,
            &format!("names live process {pid}; kept"),
            &format!("names live pid {pid}"),
        )),
    }
    Ok(())
}

fn holder(ctx: &Ctx<'_>, rel: &RelPath, bytes: &[u8]) -> Result<Holder> {
    if let Some(pid) = pid_in(bytes).filter(|pid| procs::alive(*pid)) {
        return Ok(Holder::LivePid(pid));
    }
    // The probe's flock is released as soon as the guard drops, at the end of this match.
    Ok(match ctx.root.try_lock_file(rel)? {
        TryLock::Held => Holder::Flock,
        TryLock::Taken(_) | TryLock::NotLockable => Holder::Nobody,
    })
}

/// The PID a lock file names: its first word as a decimal number (`1234`, `1234\n...`), or
/// the `pid` member of a JSON object.
fn pid_in(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let from_json = || {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        u32::try_from(v.get("pid")?.as_u64()?).ok()
    };
    let first = text.split_whitespace().next()?;
    let word = first
        .strip_prefix("pid=")
        .or_else(|| first.strip_prefix("pid:"))
        .unwrap_or(first);
    word.parse::<u32>()
        .ok()
        .or_else(from_json)
        .filter(|pid| *pid > 0)
}

fn report(rel: &RelPath, age: i64, what: &str, evidence: &str) -> Finding {
    Finding::new(
        code::STALE_LOCK,
        Level::High,
        Some(rel.as_str()),
        format!("lock {rel} (age {age} s) {what}"),
        evidence.to_string(),
    )
    .with_details(serde_json::json!({"file": rel.as_str(), "age_s": age}))
}

fn kept_unheld(ctx: &Ctx<'_>, rel: &RelPath, age: i64) -> Finding {
    let why = match ctx.phase {
        Phase::Watch => "is stale and not held; kept (watch never removes a lock)",
        Phase::Startup => "is stale and not held; kept while a bot instance runs in the root",
    };
    let mut f = report(rel, age, why, "stale, not held");
    f.level = Level::Medium;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_forms() {
        let cases: &[(&[u8], Option<u32>)] = &[
            (b"1234", Some(1234)),
            (b" 1234\n", Some(1234)),
            (b"1234\nhost\n", Some(1234)),
            (b"pid=77", Some(77)),
            (b"{\"pid\": 42, \"host\": \"x\"}", Some(42)),
            (b"", None),
            (b"0", None),
            (b"abc", None),
            (b"{\"pid\": -1}", None),
            (b"\xff\xfe", None),
            (b"99999999999", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(pid_in(bytes), *want, "input {bytes:?}");
        }
    }
}
