//! `recover`: the recovery stage of the pipeline on its own, optionally keeping the
//! current version of a conflicting file. Invariant: it waits for the bot's locks of the
//! interrupted transaction's files and refuses while one stays held.

use crate::botlock::BotLocks;
use crate::error::Result;
use crate::journal::Journal;
use crate::lock;
use crate::recovery::{self, RecoveryOutcome};
use crate::report::RecoverySummary;
use crate::run::{bootstrap, for_recovery, refused, Options, Session};

/// What `recover` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecoverReport {
    /// The outcome, or none when there was nothing to do.
    pub recovery: Option<RecoverySummary>,
    /// Whether a conflict is left for the operator.
    pub conflict: bool,
    /// Temp files removed.
    pub swept: usize,
}

/// Runs `recover [--keep-current]`.
///
/// # Errors
/// Journal problems (exit 4), operational errors, lock timeout.
pub fn recover(opts: &Options, keep_current: bool) -> Result<RecoverReport> {
    let s = Session::open(opts, false)?;
    bootstrap(&s.root)?;
    let _lock = lock::acquire(&s.root, opts.lock_timeout)?;
    let mut journal = Journal::load(&s.root, s.mac.clone())?;
    let mut locks = BotLocks::default();
    let busy = for_recovery(&s, &journal, &mut locks, s.bot_lock_deadline())?;
    if !busy.is_empty() {
        return Err(refused(
            "recovery of the interrupted transaction waits",
            &busy,
        ));
    }
    let rec = recovery::recover(&s.root, &mut journal, s.layout.max_file_size, keep_current)?;
    drop(locks);
    let torn = rec
        .torn
        .as_ref()
        .and_then(|t| t.saved_to.as_ref())
        .map(|p| p.to_string());
    Ok(RecoverReport {
        conflict: matches!(rec.outcome, RecoveryOutcome::Conflict { .. }),
        recovery: RecoverySummary::of(&rec.outcome, torn),
        swept: rec.swept,
    })
}
