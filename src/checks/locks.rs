//! Lock files: files ending in `locks.suffix` directly inside each `locks.dirs` directory.
//! The bot's locks are empty `flock` files that live beside the file they guard for good:
//! an idle one (not held) is normal and is never reported, however old.
//!
//! - A stale lock file (mtime older than `locks.stale_after`, not held, naming no live PID)
//!   is removed only at startup with no bot instance in the root, by [`Effect::RemoveLock`]
//!   (see `fsx::lockfile` for why that is safe for flock users). A lock file this run holds
//!   itself ([`Known::held`]: the bot's lock of a managed file, held for the whole run) is
//!   in use, so it is never a candidate: selfheal never removes a lock it holds.
//! - A held lock is waited for until [`Known::deadline`] (at most the bot's own lock
//!   timeout, `locks.bot_timeout`); one still held then is reported (STALE_LOCK, HIGH) with
//!   its holders: past that timeout the bot's readers give up and use an empty default.
//!   A lock the command already reported as LOCK_HELD ([`Known::busy`]) is not reported
//!   twice. A held lock is never removed.
//! - A lock file older than `locks.stale_after` that names a live PID (a tool that writes
//!   its PID) is reported and kept.

use super::{listable_dir, scan, unchecked, Bots, Ctx, Phase, Planned};
use crate::error::Result;
use crate::findings::{code, Finding, Level};
use crate::fsx::{Kind, TryLock};
use crate::holders::{self, Holder};
use crate::paths::RelPath;
use crate::plan::{observe, Effect, HealKind, Op};
use crate::procs;
use std::time::{Duration, Instant};

/// What the command already knows about the bot's locks when the checks run.
#[derive(Debug, Clone)]
pub struct Known {
    /// Lock files this run holds until its transaction commits: in use, never removed.
    pub held: Vec<RelPath>,
    /// Lock files found still held after waiting, already reported by the command.
    pub busy: Vec<RelPath>,
    /// Until when a held lock file is waited for before it is reported.
    pub deadline: Instant,
}

impl Known {
    /// Nothing held, nothing busy, waiting until `deadline`.
    pub fn waiting_until(deadline: Instant) -> Known {
        Known {
            held: Vec::new(),
            busy: Vec::new(),
            deadline,
        }
    }

    fn covers(&self, rel: &RelPath) -> bool {
        self.held.contains(rel) || self.busy.contains(rel)
    }
}

/// How often a held lock is tried again while waiting.
const RETRY: Duration = Duration::from_millis(20);

/// A lock file found held, waited for.
struct Waiting {
    rel: RelPath,
}

/// Plans the removal of every stale lock file and reports the locks held too long.
///
/// # Errors
/// I/O errors while listing, reading or probing.
pub fn plan(ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
    let mut waiting = Vec::new();
    for dir in &ctx.layout.lock_dirs {
        if !listable_dir(ctx.root, dir)? {
            continue;
        }
        let suffix = ctx.layout.config.locks.suffix.as_str();
        for (rel, kind) in scan(ctx.root, dir, suffix, "lock file", p)? {
            match kind {
                Kind::File if ctx.locks.covers(&rel) => {}
                Kind::File => plan_lock(ctx, p, &rel, &mut waiting)?,
                other => unchecked(p, rel.as_str(), &not_a_file(&rel, other)),
            }
        }
    }
    wait_out(ctx, p, waiting)
}

fn not_a_file(rel: &RelPath, kind: Kind) -> String {
    let is = match kind {
        Kind::Dir => "a directory",
        Kind::Symlink => "a symlink (not followed)",
        _ => "a FIFO, socket or device",
    };
    format!("lock file {rel} is {is}, not a regular file")
}

fn plan_lock(
    ctx: &Ctx<'_>,
    p: &mut Planned,
    rel: &RelPath,
    waiting: &mut Vec<Waiting>,
) -> Result<()> {
    let before = observe(ctx.root, rel, ctx.layout.max_file_size)?;
    let (Some(stat), Some(bytes)) = (before.stat, before.bytes.clone()) else {
        return Ok(());
    };
    let age = ctx.now.saturating_sub(stat.mtime_sec);
    let stale = ctx.layout.lock_stale.as_secs();
    let is_stale = age > i64::try_from(stale).unwrap_or(i64::MAX);
    if let Some(pid) = pid_in(&bytes).filter(|pid| procs::alive(*pid)) {
        if is_stale {
            p.findings.push(report(
                rel,
                format!("lock {rel} (age {age} s) names live process {pid}; kept"),
                &format!("names live pid {pid}"),
                &[],
            ));
        }
        return Ok(());
    }
    // The probe's flock is released as soon as the guard drops, at the end of this match.
    let held = matches!(ctx.root.try_lock_file(rel)?, TryLock::Held);
    let removable = ctx.phase == Phase::Startup && p.bots == Bots::None;
    if held {
        waiting.push(Waiting { rel: rel.clone() });
    } else if is_stale && removable {
        p.push(Op {
            heal: HealKind::StaleLock,
            message: format!("Removed stale lock: {rel} (age {age} s)"),
            reason: format!(
                "lock file is {age} s old (stale after {stale} s), not held, names no live process"
            ),
            path: Some(rel.clone()),
            action: Effect::RemoveLock,
            before,
        });
    }
    Ok(())
}

/// Waits until the deadline for the held locks to be released, and reports those still
/// held then. A signal ends the wait without a report (the command is stopping).
fn wait_out(ctx: &Ctx<'_>, p: &mut Planned, mut waiting: Vec<Waiting>) -> Result<()> {
    let deadline = ctx.locks.deadline;
    while !waiting.is_empty() && Instant::now() < deadline {
        if crate::lock::interrupted() {
            return Ok(());
        }
        std::thread::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())));
        let mut still = Vec::new();
        for w in waiting {
            if matches!(ctx.root.try_lock_file(&w.rel)?, TryLock::Held) {
                still.push(w);
            }
        }
        waiting = still;
    }
    for w in waiting {
        let holders = match ctx.root.entry(&w.rel)? {
            crate::fsx::Entry::Present(st) => holders::of(st.dev, st.ino),
            _ => continue,
        };
        p.findings.push(held_too_long(ctx, &w.rel, &holders));
    }
    Ok(())
}

fn held_too_long(ctx: &Ctx<'_>, rel: &RelPath, holders: &[Holder]) -> Finding {
    let suffix = &ctx.layout.config.locks.suffix;
    let guarded = rel
        .as_str()
        .strip_suffix(suffix.as_str())
        .unwrap_or(rel.as_str());
    let timeout = ctx.layout.lock_bot_timeout.as_secs_f64();
    report(
        rel,
        format!(
            "lock {rel} is held by {} and stayed held longer than the bot's lock timeout ({timeout} s): the bot's readers of {guarded} give up and use an empty default; kept",
            holders::describe_all(holders)
        ),
        "held past the bot's lock timeout",
        holders,
    )
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

fn report(rel: &RelPath, message: String, evidence: &str, holders: &[Holder]) -> Finding {
    Finding::new(
        code::STALE_LOCK,
        Level::High,
        Some(rel.as_str()),
        message,
        evidence.to_string(),
    )
    .with_details(serde_json::json!({"file": rel.as_str(), "holders": holders}))
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
