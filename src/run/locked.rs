//! The bot's locks for the commands that run while the bot is stopped (`heal`, `check`,
//! `rollback`, `recover`, and the recovery every writing command runs first). Each waits up
//! to the bot's own lock timeout (`locks.bot_timeout`, one deadline for the whole run) for
//! the locks of the files it reads or changes, and holds those it takes until its
//! transaction has committed.
//!
//! At startup every managed state file's existing lock is taken before the checks read
//! anything, so what they read is a version of the file no bot write can be halfway
//! through, and the same lock covers the re-check and the rename of any repair. A managed
//! file whose lock is still held at the deadline is LOCK_HELD (CRITICAL in real mode, HIGH
//! in paper): the bot would read an empty default there and its next save would overwrite
//! the file. Its planned operations become failed heals (`skipped: <file> is locked by
//! <pid> (<command>)`); the file is not written, and what was read of it (while another
//! process held its lock) yields no other finding and is not given to the detectors. The lock files taken are handed to the
//! lock check as in use ([`Known::held`]): a lock selfheal holds is never removed as
//! stale, and a lock needed for a rewrite is never removed in the same run.

use super::Session;
use crate::botlock::{self, BotLocks, Busy, Need, Why};
use crate::checks::locks::Known;
use crate::checks::Planned;
use crate::error::{Error, Result};
use crate::findings::{code, Failed, Finding, Level};
use crate::journal::Journal;
use crate::mode::Mode;
use crate::paths::RelPath;
use crate::plan::Effect;
use serde_json::json;
use std::time::Instant;

/// The managed files' locks taken before the checks run.
pub(crate) struct BeforePlan {
    /// What the lock check must know.
    pub known: Known,
    /// Managed files whose lock stayed held.
    pub busy: Vec<Busy>,
}

/// Takes the existing lock of every managed file (none is created here: one that is
/// absent cannot be held), waiting until `deadline`.
///
/// # Errors
/// I/O errors; [`Error::Interrupted`] on a signal while waiting.
pub(crate) fn before_plan(
    s: &Session,
    locks: &mut BotLocks,
    deadline: Instant,
) -> Result<BeforePlan> {
    let files: Vec<RelPath> = s.layout.files.iter().map(|f| f.path.clone()).collect();
    let needs = botlock::Need::existing(&files);
    let busy = botlock::acquire(&s.root, &s.layout, &needs, deadline, locks)?;
    let known = Known {
        held: locks.paths(),
        busy: busy
            .iter()
            .filter(|b| matches!(b.why, Why::Held(_)))
            .map(|b| b.lock.clone())
            .collect(),
        deadline,
    };
    Ok(BeforePlan { known, busy })
}

/// After planning: keeps every lock file a planned rewrite needs (no removal of it in the
/// same run), takes the locks the plan's operations need (with `take`; `check` takes
/// none), and turns the operations on a busy file into failed heals, with LOCK_HELD for
/// a managed file whose lock is held.
///
/// # Errors
/// I/O errors; [`Error::Interrupted`] on a signal while waiting.
pub(crate) fn after_plan(
    s: &Session,
    planned: &mut Planned,
    locks: &mut BotLocks,
    (mut busy, deadline): (Vec<Busy>, Instant),
    mode: Mode,
    take: bool,
) -> Result<()> {
    let needs = botlock::needs_of(&s.layout, &planned.ops);
    keep_needed_locks(s, planned, &needs)?;
    if take {
        busy.extend(botlock::acquire(
            &s.root, &s.layout, &needs, deadline, locks,
        )?);
    }
    fail_busy(s, planned, &busy);
    for b in busy.iter().filter(|b| matches!(b.why, Why::Held(_))) {
        forget_read(planned, &b.file);
        if s.layout.is_managed(&b.file) {
            planned.findings.push(lock_held(s, b, mode));
        }
    }
    Ok(())
}

/// What was read of `file` while another process held its lock is not a version of the
/// file anyone can rely on: the findings about it go, and the detectors do not read it.
fn forget_read(planned: &mut Planned, file: &RelPath) {
    planned
        .findings
        .retain(|f| f.path.as_deref() != Some(file.as_str()));
    for f in planned.files.iter_mut().filter(|f| &f.spec.path == file) {
        f.shape = None;
        f.written = None;
    }
}

/// Drops a planned stale-lock removal of a lock file some planned rewrite needs.
fn keep_needed_locks(s: &Session, planned: &mut Planned, needs: &[Need]) -> Result<()> {
    let suffix = &s.layout.config.locks.suffix;
    let needed = needs
        .iter()
        .map(|n| botlock::lock_path(&n.file, suffix))
        .collect::<Result<Vec<_>>>()?;
    let keep: Vec<bool> = planned
        .ops
        .iter()
        .map(|op| {
            let removes = matches!(op.action, Effect::RemoveLock);
            !(removes && op.path.as_ref().is_some_and(|p| needed.contains(p)))
        })
        .collect();
    planned.retain_ops(&keep);
    Ok(())
}

/// Turns every operation on a busy file into a failed heal.
fn fail_busy(s: &Session, planned: &mut Planned, busy: &[Busy]) {
    if busy.is_empty() {
        return;
    }
    let mut keep = Vec::with_capacity(planned.ops.len());
    let mut failed = Vec::new();
    for op in &planned.ops {
        let file = botlock::guarded(&s.layout, op);
        let blocked = busy.iter().find(|b| Some(&b.file) == file);
        keep.push(blocked.is_none());
        if let Some(b) = blocked {
            failed.push(Failed {
                heal: op.heal,
                path: Some(b.file.to_string()),
                reason: format!("skipped: {}", b.describe()),
            });
            if op.heal == crate::plan::HealKind::StaleHeartbeat {
                planned.stale_heartbeats += 1;
            }
        }
    }
    planned.retain_ops(&keep);
    planned.failed.extend(failed);
}

/// The LOCK_HELD finding for a managed file whose lock `b` stayed held.
pub(crate) fn lock_held(s: &Session, b: &Busy, mode: Mode) -> Finding {
    let level = match mode {
        Mode::Real => Level::Critical,
        Mode::Paper => Level::High,
    };
    let timeout = s.layout.lock_bot_timeout.as_secs_f64();
    let root = s
        .root
        .canonical_path()
        .unwrap_or_else(|_| s.root.path().to_path_buf());
    let pids: Vec<String> = b.holders().iter().map(|h| h.pid.to_string()).collect();
    Finding::new(
        code::LOCK_HELD,
        level,
        Some(b.file.as_str()),
        format!(
            "{} is locked by {} (lock file {}) and stayed locked past the bot's lock timeout ({timeout} s): the bot would read an empty default there and its next save would overwrite the file, so selfheal did not write it. Find out why that process holds the lock (a stuck bot, a dashboard, a script), stop it, then run `selfheal heal --root {} --mode {mode}`",
            b.file,
            crate::holders::describe_all(b.holders()),
            b.lock,
            crate::text::clean(&root.display().to_string()),
        ),
        format!("locked by pid {}", pids.join(", ")),
    )
    .with_details(json!({
        "file": b.file.as_str(),
        "lock": b.lock.as_str(),
        "holders": b.holders(),
        "timeout_s": timeout,
    }))
}

/// Takes the bot locks of the files the unfinished transaction (if any) touched, before
/// recovery may rewrite them, waiting until `deadline`; returns those that stayed busy.
///
/// # Errors
/// I/O errors; [`Error::Interrupted`] on a signal while waiting.
pub(crate) fn for_recovery(
    s: &Session,
    journal: &Journal,
    locks: &mut BotLocks,
    deadline: Instant,
) -> Result<Vec<Busy>> {
    let Some(t) = journal.unfinished() else {
        return Ok(Vec::new());
    };
    let needs = botlock::intent_needs(&s.layout, t)?;
    botlock::acquire(&s.root, &s.layout, &needs, deadline, locks)
}

/// The planned state of a heal whose recovery waits for a bot lock: LOCK_HELD for a
/// managed file, a failed heal for every busy file, and the note that recovery waits.
pub(crate) fn recovery_waits(s: &Session, txn: u64, busy: &[Busy], mode: Mode) -> Planned {
    let mut planned = Planned::default();
    for b in busy {
        if matches!(b.why, Why::Held(_)) && s.layout.is_managed(&b.file) {
            planned.findings.push(lock_held(s, b, mode));
        }
        planned.failed.push(Failed {
            heal: crate::plan::HealKind::Recovery,
            path: Some(b.file.to_string()),
            reason: format!("skipped: {}", b.describe()),
        });
    }
    planned.pending_notes.push(format!(
        "recovery: interrupted transaction {txn} waits until its files are no longer locked"
    ));
    planned
}

/// A command that cannot go on while `busy` files stay locked.
pub(crate) fn refused(what: &str, busy: &[Busy]) -> Error {
    let all: Vec<String> = busy.iter().map(Busy::describe).collect();
    Error::Refused(format!(
        "{what}: {} (still locked after the bot's lock timeout); nothing was changed",
        all.join("; ")
    ))
}
