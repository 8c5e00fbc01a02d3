//! The first stage of every writing run: recovery of an interrupted transaction, under the
//! bot's locks of the files it touched, before anything else reads or writes the state; and
//! what a read-only run (`check`) says recovery would do. Invariant: in real mode, with a
//! transaction to recover and a bot instance running, recovery writes nothing (it waits,
//! with DUPLICATE_INSTANCE); a file whose bot lock stays held is not recovered this run.

use super::assess::blocked;
use super::locked;
use super::session::{bootstrap, Options, Session};
use crate::botlock::BotLocks;
use crate::checks::{self, Planned};
use crate::error::{Error, Result};
use crate::findings::{code, Finding, Level};
use crate::journal::Journal;
use crate::lock;
use crate::mode::{Mode, ModeChoice};
use crate::paths::RelPath;
use crate::paths::JOURNAL_DIR;
use crate::plan::observe;
use crate::recovery::{self, intents_of, RecoveryOutcome};
use crate::report::{RecoverySummary, Report};
use serde_json::json;
use std::time::Instant;

/// What recovery left for the rest of a run.
pub(crate) enum Recovered {
    /// Go on, with what recovery did (if anything).
    Ready(Option<RecoverySummary>),
    /// The run ends here with this report: a journal that cannot be trusted, a conflict, a
    /// file still locked, a second bot instance; `alert`: whether its findings go to the
    /// alert log (a deferred recovery's do not: nothing was looked at).
    Blocked { report: Box<Report>, alert: bool },
}

/// Recovery of `heal`: deferred while a second bot instance runs (real mode), waiting for
/// the bot locks of the transaction's files until `deadline` (kept in `locks`), then run.
///
/// # Errors
/// I/O errors; [`Error::Interrupted`] on a signal while waiting.
pub(crate) fn startup(
    s: &Session,
    journal: &mut Journal,
    mode: ModeChoice,
    (locks, deadline): (&mut BotLocks, Instant),
    boot: &[RelPath],
) -> Result<Recovered> {
    if let Some(f) = defer(s, journal, mode)? {
        let report = Box::new(blocked(mode, f, None));
        return Ok(Recovered::Blocked {
            report,
            alert: false,
        });
    }
    let busy = locked::for_recovery(s, journal, locks, deadline)?;
    if let (false, Some(t)) = (busy.is_empty(), journal.unfinished()) {
        let planned = locked::recovery_waits(s, t.txn, &busy, mode.mode);
        let report = super::assess::assemble(s, journal, mode, &planned, None, boot, false);
        let report = Box::new(report);
        return Ok(Recovered::Blocked {
            report,
            alert: true,
        });
    }
    run(s, journal, mode)
}

/// Runs recovery itself (the bot locks of its files are held by the caller).
///
/// # Errors
/// I/O errors.
pub(crate) fn run(s: &Session, journal: &mut Journal, mode: ModeChoice) -> Result<Recovered> {
    let rec = match recovery::recover(&s.root, journal, s.layout.max_file_size, false) {
        Ok(r) => r,
        Err(Error::JournalCorrupt { file, why }) => {
            let f = journal_finding(&format!("{}: {why}", file.display()));
            let report = Box::new(blocked(mode, f, None));
            return Ok(Recovered::Blocked {
                report,
                alert: true,
            });
        }
        Err(e) => return Err(e),
    };
    let torn = rec
        .torn
        .as_ref()
        .and_then(|t| t.saved_to.as_ref())
        .map(ToString::to_string);
    let rec_report = RecoverySummary::of(&rec.outcome, torn);
    if let RecoveryOutcome::Conflict { why, .. } = &rec.outcome {
        let report = blocked(mode, journal_finding(why), rec_report);
        let report = Box::new(report);
        return Ok(Recovered::Blocked {
            report,
            alert: true,
        });
    }
    Ok(Recovered::Ready(rec_report))
}

/// Recovery writes state files too: in real mode, with a transaction to recover and a bot
/// instance running, nothing is done and the duplicate is reported instead.
fn defer(s: &Session, journal: &Journal, mode: ModeChoice) -> Result<Option<Finding>> {
    if mode.mode != Mode::Real || journal.unfinished().is_none() {
        return Ok(None);
    }
    let bots = checks::processes::scan(&s.root, &s.layout)?;
    if bots.is_empty() {
        return Ok(None);
    }
    let list: Vec<String> = bots
        .iter()
        .map(|b| format!("{} ({})", b.pid, b.command()))
        .collect();
    Ok(Some(
        Finding::new(
            code::DUPLICATE_INSTANCE,
            Level::Critical,
            None,
            format!(
                "another bot instance is running in this root: {}; recovery of the interrupted transaction waits until it stops",
                list.join(", ")
            ),
            "recovery deferred",
        )
        .with_details(json!({"pids": bots.iter().map(|b| b.pid).collect::<Vec<_>>()})),
    ))
}

/// What a read-only run reports about an unfinished transaction: a pending rollback, or a
/// conflict.
///
/// # Errors
/// I/O errors while observing the transaction's paths.
pub(crate) fn pending(s: &Session, journal: &Journal, planned: &mut Planned) -> Result<()> {
    let Some(t) = journal.unfinished() else {
        return Ok(());
    };
    for it in intents_of(t) {
        let Some(path) = &it.path else { continue };
        let now = observe(
            &s.root,
            &RelPath::new(path.as_str())?,
            s.layout.max_file_size,
        )?;
        let decision = now.node().map_or(journal_format::Decision::Conflict, |n| {
            journal_format::decide(&it, n)
        });
        if decision == journal_format::Decision::Conflict {
            planned.findings.push(journal_finding(&format!(
                "transaction {} op {}: {path} matches neither its state before nor after",
                t.txn, it.op
            )));
        }
        if decision == journal_format::Decision::KeepNewer {
            planned.pending_notes.push(format!(
                "recovery: {path} was rewritten by the bot under its lock after transaction {} was interrupted; its version will be kept",
                t.txn
            ));
        }
    }
    planned.pending_notes.push(format!(
        "Would roll back interrupted transaction {} (recovery, before any repair)",
        t.txn
    ));
    Ok(())
}

/// The JOURNAL_INTEGRITY finding for a journal that cannot be trusted (`why`).
pub(crate) fn journal_finding(why: &str) -> Finding {
    Finding::new(
        code::JOURNAL_INTEGRITY,
        Level::Critical,
        Some(JOURNAL_DIR),
        format!("selfheal's journal cannot be trusted: {why}"),
        why.to_string(),
    )
    .with_details(json!({"problem": why}))
}

/// The prologue of every command that writes besides `heal`, `recover` and `watch`: the
/// backups directory, the lock, the journal, and recovery first; a recovery conflict
/// refuses the command.
///
/// # Errors
/// A file of the unfinished transaction still locked, a recovery conflict
/// ([`Error::Refused`]), journal problems, operational errors, lock timeout.
pub(crate) fn locked_and_recovered(
    s: &Session,
    opts: &Options,
) -> Result<(lock::DirLock, Journal)> {
    bootstrap(&s.root)?;
    let held = lock::acquire(&s.root, opts.lock_timeout)?;
    let mut journal = Journal::load(&s.root, s.mac.clone())?;
    let mut locks = BotLocks::default();
    let busy = locked::for_recovery(s, &journal, &mut locks, s.bot_lock_deadline())?;
    if !busy.is_empty() {
        return Err(locked::refused(
            "recovery of an interrupted transaction waits",
            &busy,
        ));
    }
    let rec = recovery::recover(&s.root, &mut journal, s.layout.max_file_size, false)?;
    // ORDER: the bot's locks of the recovered files are released once recovery is done.
    drop(locks);
    if let RecoveryOutcome::Conflict { why, .. } = rec.outcome {
        return Err(Error::Refused(format!(
            "recovery found a conflict first: {why}"
        )));
    }
    Ok((held, journal))
}
